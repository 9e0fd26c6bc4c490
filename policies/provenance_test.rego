package broker.provenance_test

import data.broker.fixtures_test as f
import data.broker.provenance

test_record_is_bound_by_its_origin_chain if {
	provenance.chain(f.riverton_record) == {"US-OR-RIVERTON", "US-OR", "US"}
	provenance.countries(f.riverton_record) == {"US"}
}

# The intermediary case: the fusion centre's copy is still bound by Riverton.
test_fusion_copy_is_still_bound_by_riverton if {
	provenance.roots(f.fusion_copy_of_riverton) == {"US-OR-RIVERTON", "US-OR"}
	not provenance.permits_purpose(f.fusion_copy_of_riverton, "immigration_enforcement")
	provenance.forbidding(f.fusion_copy_of_riverton, "immigration_enforcement") == {"US-OR-RIVERTON"}
}

test_relabelled_copy_is_still_bound_by_riverton if {
	"US-OR-RIVERTON" in provenance.chain(f.relabelled_fusion_copy)
	not provenance.permits_purpose(f.relabelled_fusion_copy, "immigration_enforcement")
	provenance.forbidding(f.relabelled_fusion_copy, "immigration_enforcement") == {"US-OR-RIVERTON"}
}

test_copies_remain_usable_for_permitted_purposes if {
	provenance.permits_purpose(f.relabelled_fusion_copy, "criminal_investigation")
}

test_record_of_the_fusion_centre_alone_is_not_bound_by_riverton if {
	provenance.permits_purpose(f.oregon_record, "immigration_enforcement")
}

test_source_agency_counts_even_if_missing_from_lineage if {
	record := object.union(f.oregon_record, {"source_agency": "riverton-pd", "lineage": ["or-fusion"]})
	not provenance.permits_purpose(record, "immigration_enforcement")
}

test_unknown_lineage_agency_permits_nothing if {
	record := object.union(f.oregon_record, {"lineage": ["shadow-broker", "or-fusion"]})
	provenance.unknown_agencies(record) == {"shadow-broker"}
	not provenance.chain_known(record)
	not provenance.permits_purpose(record, "criminal_investigation")
}

test_unknown_origin_permits_nothing if {
	record := object.union(f.oregon_record, {"origin_jurisdiction": "ATLANTIS"})
	not provenance.chain_known(record)
	not provenance.permits_purpose(record, "criminal_investigation")
}

# A Chilean record copied by the FBI and relabelled "US" is still a Chilean record.
test_record_copied_across_the_border_belongs_to_both_countries if {
	record := object.union(f.chile_record, {"origin_jurisdiction": "US", "source_agency": "us-fbi", "lineage": ["cl-pdi", "us-fbi"]})
	provenance.countries(record) == {"US", "CL"}
}
