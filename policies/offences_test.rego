package broker.offences_test

import data.broker.fixtures_test as f
import data.broker.offences

test_no_offence_named_is_valid if {
	offences.offence_valid with input as f.criminal_identify
	offences.named_code == "" with input as f.criminal_identify
	not offences.max_penalty_months with input as f.criminal_identify
}

test_known_offence_is_valid if {
	offences.offence_valid with input as f.with_offence(f.criminal_identify, "burglary")
	offences.max_penalty_months == 120 with input as f.with_offence(f.criminal_identify, "burglary")
}

test_unknown_offence_is_a_violation if {
	doc := f.with_offence(f.criminal_identify, "jaywalking")
	not offences.offence_valid with input as doc
	offences.violations == {{"code": "unknown_offence", "message": "offence jaywalking is not known"}} with input as doc
}

test_offence_that_is_not_a_string_is_a_violation if {
	doc := f.with_offence(f.criminal_identify, 13)
	not offences.offence_valid with input as doc
	count(offences.violations) == 1 with input as doc
}

test_null_floor_needs_no_offence if {
	offences.meets_floor(null) with input as f.criminal_identify
}

test_floor_is_met_at_or_above_it if {
	offences.meets_floor(13) with input as f.with_offence(f.criminal_identify, "armed_robbery")
	offences.meets_floor(120) with input as f.with_offence(f.criminal_identify, "burglary")
	not offences.meets_floor(121) with input as f.with_offence(f.criminal_identify, "burglary")
	not offences.meets_floor(13) with input as f.with_offence(f.criminal_identify, "shoplifting")
}

test_floor_without_a_named_offence_is_not_met if {
	not offences.meets_floor(0) with input as f.criminal_identify
	not offences.meets_floor(0) with input as f.with_offence(f.criminal_identify, "jaywalking")
}

test_floor_that_is_not_a_number_is_not_met if {
	not offences.meets_floor("13") with input as f.with_offence(f.criminal_identify, "homicide")
}
