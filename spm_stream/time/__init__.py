"""Time: periods and day buckets, working calendars, and cron schedules."""
