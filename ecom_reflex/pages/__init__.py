"""Pages: functions that return components. No database access here."""
