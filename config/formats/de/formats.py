# German: "6. Dez. 2026, 19:57", the same on every page.
DATE_FORMAT = "j. N Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j. N Y, H:i"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
# The reports' chart axis: "6. Dez.".
MONTH_DAY_FORMAT = "j. N"
YEAR_MONTH_FORMAT = "N Y"
