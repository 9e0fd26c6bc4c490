package broker.retention_test

import data.broker.clock
import data.broker.fixtures_test as f
import data.broker.retention

test_riverton_face_limit_is_five_years if {
	retention.limit_days({"US-OR-RIVERTON", "US-OR", "US"}, "face") == 1825
	retention.limit_source({"US-OR-RIVERTON", "US-OR", "US"}, "face") == ["US-OR-RIVERTON"]
}

test_default_applies_where_no_jurisdiction_sets_a_limit if {
	retention.limit_days({"US-OR", "US"}, "face") == 3650
	retention.limit_source({"US-OR", "US"}, "face") == ["default"]
	retention.limit_days({"CL"}, "face") == 3650
}

test_jurisdiction_limit_applies if {
	retention.limit_days({"CL"}, "fingerprint") == 3650
	retention.limit_source({"CL"}, "fingerprint") == ["CL"]
}

test_strictest_limit_in_the_chain_applies if {
	retention.limit_days({"US-OR-RIVERTON", "US-OR", "US"}, "face") == 100 with data.retention.by_jurisdiction.US as {"days": {"face": 100}, "source": "test"}
}

test_unknown_modality_has_no_limit if {
	not retention.limit_days({"US"}, "iris")
}

test_within_limit if {
	# Riverton face: 1825 days. Captured 1,000 days before now is fine; 2,000 is not.
	retention.within_limit(f.days_ago(1000), {"US-OR-RIVERTON"}, "face") with input as f.criminal_identify
	not retention.within_limit(f.days_ago(2000), {"US-OR-RIVERTON"}, "face") with input as f.criminal_identify
	retention.within_limit(f.days_ago(2000), {"US-OR"}, "face") with input as f.criminal_identify
}

test_limit_boundary_is_exclusive if {
	# Exactly 1825 days before now: expired.
	not retention.within_limit(f.days_ago(1825), {"US-OR-RIVERTON"}, "face") with input as f.criminal_identify
	one_second_later := clock.rfc3339(f.now_ns - (1825 * clock.day_ns) + 1000000000)
	retention.within_limit(one_second_later, {"US-OR-RIVERTON"}, "face") with input as f.criminal_identify
}

test_retained_until_retain_until if {
	retention.retained(f.oregon_record) with input as f.criminal_identify
	not retention.retained(object.union(f.oregon_record, {"retain_until": f.days_ago(151)})) with input as f.criminal_identify
	not retention.retained(object.union(f.oregon_record, {"retain_until": f.now})) with input as f.criminal_identify
}

test_limit_explained_names_the_rule_that_sets_it if {
	retention.limit_explained({"US-OR-RIVERTON", "US-OR", "US"}, "face") == "1825 days from capture (US-OR-RIVERTON: City of Riverton biometric retention ordinance: face images are kept at most five years.)"
	retention.limit_explained({"US-OR", "US"}, "face") == "3650 days from capture (the default schedule, used where no jurisdiction binding the record sets a limit)"
}

test_limit_explained_names_every_jurisdiction_setting_the_same_limit if {
	explained := retention.limit_explained({"CL", "US-OR-RIVERTON"}, "fingerprint")
	explained == "3650 days from capture (CL: Chilean retention schedule for dactyloscopic records.; US-OR-RIVERTON: City of Riverton biometric retention ordinance: face images are kept at most five years.)"
}
