"""Configuration: the SPM_* settings, the people, targets and rules files, start-up checks."""
