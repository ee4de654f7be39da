"""Faust application and stream agents: the imperative shell around spm_stream."""
