package broker.agreements_test

import data.broker.agreements
import data.broker.fixtures_test as f

pcsc := data.agreements["us-cl-pcsc"]

pilot := data.agreements["us-cl-face-pilot"]

test_pcsc_in_force_now if {
	agreements.in_force(pcsc) with input as f.criminal_identify
}

test_in_force_from_the_first_day_to_the_end_of_the_last if {
	agreements.in_force(pcsc) with input.context.now as "2011-01-01T00:00:00Z"
	not agreements.in_force(pcsc) with input.context.now as "2010-12-31T23:59:59Z"
	agreements.in_force(pcsc) with input.context.now as "2030-12-31T23:59:59Z"
	not agreements.in_force(pcsc) with input.context.now as "2031-01-01T00:00:00Z"
}

test_expired_agreement_not_in_force if {
	not agreements.in_force(pilot) with input as f.criminal_identify
	agreements.in_force(pilot) with input as f.with_now(f.criminal_identify, "2017-03-01T00:00:00Z")
}

test_pcsc_covers_fingerprint_criminal_investigation_both_ways if {
	agreements.covering("CL", "US") == {"us-cl-pcsc"} with input as f.chile_fingerprint_identify
	agreements.covering("US", "CL") == {"us-cl-pcsc"} with input as f.identify(f.fbi_investigator, "criminal_investigation", "warrant", "fingerprint")
}

test_pcsc_covers_verification if {
	agreements.covering("CL", "US") == {"us-cl-pcsc"} with input as f.verify(f.pdi_investigator, "criminal_investigation", "treaty_request", "fingerprint")
}

test_nothing_covers_face_since_the_pilot_expired if {
	agreements.covering("CL", "US") == set() with input as f.chile_face_identify
	agreements.covering("CL", "US") == {"us-cl-face-pilot"} with input as f.with_now(f.chile_face_identify, "2017-03-01T00:00:00Z")
}

test_nothing_covers_another_purpose if {
	doc := f.with_request(f.chile_fingerprint_identify, {"purpose": "missing_person"})
	agreements.covering("CL", "US") == set() with input as doc
}

test_nothing_covers_enrolment_across_the_border if {
	doc := f.with_request(f.chile_fingerprint_identify, {"operation": "enroll"})
	agreements.covering("CL", "US") == set() with input as doc
}

test_no_agreement_within_one_country if {
	agreements.covering("US", "US") == set() with input as f.chile_fingerprint_identify
}

test_no_agreement_with_a_third_country if {
	agreements.covering("CL", "AR") == set() with input as f.chile_fingerprint_identify
}

test_agreement_without_stated_limits_never_applies if {
	agreements.covering("CL", "US") == set() with input as f.chile_fingerprint_identify
		with data.agreements["us-cl-pcsc"] as json.remove(pcsc, ["max_results"])
}
