# Time, as the policy sees it.
#
# Policies never read the wall clock: the broker passes its own clock in
# input.context.now (RFC 3339, UTC), so every decision can be replayed from its input.
package broker.clock

# The moment of the decision, in nanoseconds since the Unix epoch. A malformed timestamp
# makes evaluation fail, which the broker treats as a denial.
now_ns := time.parse_rfc3339_ns(input.context.now)

# A day is exactly 86,400 seconds in every retention and agreement computation.
day_ns := ((24 * 60) * 60) * 1000000000

# The first instant (00:00 UTC) of a calendar date written "YYYY-MM-DD".
date_start_ns(date) := time.parse_ns("2006-01-02", date)

# A timestamp in nanoseconds, written the way the broker expects: RFC 3339 in UTC.
rfc3339(ns) := time.format([ns, "UTC", "2006-01-02T15:04:05Z07:00"])
