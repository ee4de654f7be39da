"""Reports: KPI reports and boards, offline from a file and live from the store."""
