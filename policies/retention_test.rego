package broker.retention_test

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
	retention.within_limit("2023-09-05T12:00:00Z", {"US-OR-RIVERTON"}, "face") with input as f.criminal_identify
	not retention.within_limit("2021-01-01T00:00:00Z", {"US-OR-RIVERTON"}, "face") with input as f.criminal_identify
	retention.within_limit("2021-01-01T00:00:00Z", {"US-OR"}, "face") with input as f.criminal_identify
}

test_limit_boundary_is_exclusive if {
	# Exactly 1825 days before now: expired.
	not retention.within_limit("2021-06-02T12:00:00Z", {"US-OR-RIVERTON"}, "face") with input as f.criminal_identify
	retention.within_limit("2021-06-02T12:00:01Z", {"US-OR-RIVERTON"}, "face") with input as f.criminal_identify
}

test_retained_until_retain_until if {
	retention.retained(f.oregon_record) with input as f.criminal_identify
	not retention.retained(object.union(f.oregon_record, {"retain_until": "2026-01-01T00:00:00Z"})) with input as f.criminal_identify
	not retention.retained(object.union(f.oregon_record, {"retain_until": f.now})) with input as f.criminal_identify
}
