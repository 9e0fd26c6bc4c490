package broker.jurisdictions_test

import data.broker.jurisdictions

test_chain_climbs_to_the_root if {
	jurisdictions.chain("US-OR-RIVERTON") == {"US-OR-RIVERTON", "US-OR", "US"}
	jurisdictions.chain("CL") == {"CL"}
}

test_chain_of_unknown_jurisdiction_is_empty if {
	jurisdictions.chain("ATLANTIS") == set()
}

test_known_jurisdictions if {
	jurisdictions.known("US-OR")
	not jurisdictions.known("ATLANTIS")
}

test_country_of if {
	jurisdictions.country_of("US-OR-RIVERTON") == "US"
	jurisdictions.country_of("CL") == "CL"
}

test_riverton_forbids_immigration_enforcement if {
	not jurisdictions.permits_purpose("US-OR-RIVERTON", "immigration_enforcement")
	jurisdictions.forbidding("US-OR-RIVERTON", "immigration_enforcement") == {"US-OR-RIVERTON"}
}

test_riverton_permits_criminal_investigation if {
	jurisdictions.permits_purpose("US-OR-RIVERTON", "criminal_investigation")
}

test_parent_rules_bind_children if {
	not jurisdictions.permits_purpose("US-OR-RIVERTON", "criminal_investigation") with data.jurisdictions.US.forbidden_purposes as ["criminal_investigation"]
}

test_rules_do_not_climb_down if {
	jurisdictions.permits_purpose("US-OR", "immigration_enforcement")
	jurisdictions.permits_purpose("US", "immigration_enforcement")
}

test_unknown_jurisdiction_permits_nothing if {
	not jurisdictions.permits_purpose("ATLANTIS", "criminal_investigation")
}

test_entry_without_forbidden_purposes_permits_nothing if {
	not jurisdictions.permits_purpose("US-OR", "criminal_investigation") with data.jurisdictions["US-OR"] as {"name": "Oregon", "country": "US", "parent": "US"}
}

test_unknown_parent_permits_nothing if {
	not jurisdictions.permits_purpose("US-OR", "criminal_investigation") with data.jurisdictions["US-OR"].parent as "NOWHERE"
}

# Data consistency: the tree is sound and a child's country is its parent's.
test_data_parents_known_and_countries_agree if {
	every info in data.jurisdictions {
		parent_consistent(info)
	}
}

parent_consistent(info) if not info.parent

parent_consistent(info) if {
	parent := data.jurisdictions[info.parent]
	parent.country == info.country
}
