package broker.agencies_test

import data.broker.agencies
import data.broker.fixtures_test as f

codes(violations) := {v.code | some v in violations}

test_known_agency_with_matching_token_is_verified if {
	agencies.subject_verified with input as f.criminal_identify
	count(agencies.violations) == 0 with input as f.criminal_identify
}

test_chilean_agency_is_verified if {
	agencies.subject_verified with input as f.chile_fingerprint_identify
}

test_unknown_agency_denied if {
	doc := f.with_subject(f.criminal_identify, {"agency": "acme-private-eyes"})
	not agencies.subject_verified with input as doc
	codes(agencies.violations) == {"unknown_agency"} with input as doc
}

test_missing_agency_denied if {
	doc := json.remove(f.criminal_identify, ["subject/agency"])
	not agencies.subject_verified with input as doc
	codes(agencies.violations) == {"unknown_agency"} with input as doc
}

test_token_claiming_another_jurisdiction_denied if {
	doc := f.with_subject(f.criminal_identify, {"jurisdiction": "US-OR"})
	not agencies.subject_verified with input as doc
	codes(agencies.violations) == {"agency_jurisdiction_mismatch"} with input as doc
}

test_token_claiming_another_country_denied if {
	doc := f.with_subject(f.chile_fingerprint_identify, {"country": "US"})
	not agencies.subject_verified with input as doc
	codes(agencies.violations) == {"agency_jurisdiction_mismatch"} with input as doc
}

test_agency_in_unknown_jurisdiction_not_verified if {
	not agencies.subject_verified with input as f.criminal_identify
		with data.agencies["us-fbi"] as {"name": "FBI", "jurisdiction": "ATLANTIS", "country": "US"}
		with input.subject.jurisdiction as "ATLANTIS"
}

test_home_jurisdiction if {
	agencies.home_jurisdiction("riverton-pd") == "US-OR-RIVERTON"
	agencies.home_jurisdiction("or-fusion") == "US-OR"
}
