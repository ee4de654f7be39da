"""Ranking: the one ranking of reps for boards, contests and points."""
