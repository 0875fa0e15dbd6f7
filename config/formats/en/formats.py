# English: "6 Dec 2026, 19:57" (day month year, 24-hour clock), the same on every page.
DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
# The reports' chart axis: "6 Dec".
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = "M Y"
