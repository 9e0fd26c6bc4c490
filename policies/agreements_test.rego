package broker.agreements_test

import data.broker.agreements
import data.broker.fixtures_test as f

pcsc := data.agreements["us-cl-pcsc"]

pilot := data.agreements["us-cl-face-pilot"]

mou := data.agreements["fbi-wa-dol-mou"]

fbi_felony_identify := f.with_offence(f.criminal_identify, "armed_robbery")

# --- In force ---

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

# --- Between countries ---

test_pcsc_covers_fingerprint_criminal_investigation_both_ways if {
	agreements.covering("CL", "US") == {"us-cl-pcsc"} with input as f.chile_fingerprint_identify
	agreements.covering("US", "CL") == {"us-cl-pcsc"} with input as f.identify(f.fbi_investigator, "criminal_investigation", "warrant", "fingerprint")
}

test_pcsc_covers_verification if {
	agreements.covering("CL", "US") == {"us-cl-pcsc"} with input as f.verify(f.pdi_investigator, "criminal_investigation", "treaty_request", "fingerprint")
}

test_pcsc_sets_no_offence_floor if {
	agreements.covering("CL", "US") == {"us-cl-pcsc"} with input as f.with_offence(f.chile_fingerprint_identify, "trespass")
}

test_nothing_covers_face_since_the_pilot_expired if {
	then := f.with_offence(f.with_now(f.chile_face_identify, "2017-03-01T00:00:00Z"), "burglary")
	agreements.covering("CL", "US") == set() with input as f.with_offence(f.chile_face_identify, "burglary")
	agreements.covering("CL", "US") == {"us-cl-face-pilot"} with input as then
}

test_offence_floor_needs_a_serious_enough_offence if {
	then := f.with_now(f.chile_face_identify, "2017-03-01T00:00:00Z")
	agreements.covering("CL", "US") == set() with input as then
	agreements.covering("CL", "US") == set() with input as f.with_offence(then, "shoplifting")
	agreements.covering("CL", "US") == set() with input as f.with_offence(then, "jaywalking")
	agreements.covering("CL", "US") == {"us-cl-face-pilot"} with input as f.with_offence(then, "homicide")
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

test_agreement_between_agencies_never_opens_a_border if {
	agreements.covering("US", "CL") == set() with input as fbi_felony_identify
		with data.agreements["fbi-wa-dol-mou"] as object.union(mou, {"parties": ["US", "CL"]})
}

# --- Fail closed on incomplete agreements ---

test_agreement_without_stated_limits_never_applies if {
	agreements.covering("CL", "US") == set() with input as f.chile_fingerprint_identify
		with data.agreements["us-cl-pcsc"] as json.remove(pcsc, ["max_results"])
}

test_agreement_without_a_floor_for_the_modality_never_applies if {
	agreements.covering("CL", "US") == set() with input as f.chile_fingerprint_identify
		with data.agreements["us-cl-pcsc"] as json.remove(pcsc, ["min_score/fingerprint"])
}

test_agreement_without_shared_results_retention_never_applies if {
	agreements.covering("CL", "US") == set() with input as f.chile_fingerprint_identify
		with data.agreements["us-cl-pcsc"] as json.remove(pcsc, ["shared_results_retention_days"])
}

test_agreement_without_an_offence_floor_entry_never_applies if {
	agreements.covering("CL", "US") == set() with input as f.chile_fingerprint_identify
		with data.agreements["us-cl-pcsc"] as json.remove(pcsc, ["offence_floor_months"])
}

# --- Between agencies ---

test_mou_opens_washington_to_the_fbi_for_felonies if {
	agreements.opening("us-fbi", "US-WA") == {"fbi-wa-dol-mou"} with input as fbi_felony_identify
}

test_mou_opens_nothing_for_a_misdemeanour_or_without_an_offence if {
	agreements.opening("us-fbi", "US-WA") == set() with input as f.with_offence(f.criminal_identify, "shoplifting")
	agreements.opening("us-fbi", "US-WA") == set() with input as f.criminal_identify
}

test_mou_opens_nothing_for_an_agency_that_did_not_sign_it if {
	agreements.opening("us-hsi", "US-WA") == set() with input as f.with_offence(f.immigration_identify, "armed_robbery")
}

test_mou_opens_only_where_its_partner_is_based if {
	agreements.opening("us-fbi", "US-OR") == set() with input as fbi_felony_identify
	agreements.opening("us-fbi", "US") == {"fbi-wa-dol-mou"} with input as fbi_felony_identify
}

test_mou_opens_nothing_for_fingerprints_or_verification if {
	fingerprint := f.with_offence(f.identify(f.fbi_investigator, "criminal_investigation", "warrant", "fingerprint"), "armed_robbery")
	agreements.opening("us-fbi", "US-WA") == set() with input as fingerprint
	verify := f.with_offence(f.verify(f.fbi_investigator, "criminal_investigation", "warrant", "face"), "armed_robbery")
	agreements.opening("us-fbi", "US-WA") == set() with input as verify
}

test_mou_opens_nothing_after_it_expires if {
	agreements.opening("us-fbi", "US-WA") == set() with input as f.with_now(fbi_felony_identify, "2028-01-01T00:00:00Z")
}

test_agreement_between_countries_never_opens_a_gate if {
	agreements.opening("cl-pdi", "US") == set() with input as f.chile_fingerprint_identify
}
