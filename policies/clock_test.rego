package broker.clock_test

import data.broker.clock

test_now_is_read_from_the_input if {
	clock.now_ns == 1780315200000000000 with input.context.now as "2026-06-01T12:00:00Z"
}

test_malformed_now_is_undefined_or_an_error if {
	not clock.now_ns with input.context as {}
}

test_day_is_86400_seconds if {
	clock.day_ns == 86400000000000
}

test_date_start_is_midnight_utc if {
	clock.date_start_ns("2011-01-01") == time.parse_rfc3339_ns("2011-01-01T00:00:00Z")
}

test_rfc3339_writes_utc_with_z if {
	clock.rfc3339(time.parse_rfc3339_ns("2026-06-01T14:00:00+02:00")) == "2026-06-01T12:00:00Z"
}
