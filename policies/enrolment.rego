# Enrolment: what a records officer may add to the gallery.
#
# The enrolling agency vouches for the record: it must be the record's source agency and the
# last agency in its lineage, the record's origin must be known, every agency it passed
# through must be known (or its restrictions could not travel with it), its consent scopes
# must be known, and it must have been captured already and not be past its retain_until.
package broker.enrolment

import data.broker.agencies
import data.broker.clock
import data.broker.consent
import data.broker.jurisdictions

provenance := input.resource.provenance

enrolled_by_subject if provenance.source_agency == input.subject.agency

lineage_ends_with_subject if {
	count(provenance.lineage) > 0
	provenance.lineage[count(provenance.lineage) - 1] == input.subject.agency
}

lineage_known if {
	every agency in provenance.lineage {
		agencies.known(agency)
	}
}

consent_scopes_known if {
	every scope in provenance.consent_scopes {
		consent.known_scope(scope)
	}
}

captured_in_past if time.parse_rfc3339_ns(provenance.captured_at) <= clock.now_ns

retained_now if clock.now_ns < time.parse_rfc3339_ns(provenance.retain_until)

# record_admissible: every condition above positively holds.
record_admissible if {
	enrolled_by_subject
	lineage_ends_with_subject
	lineage_known
	jurisdictions.known(provenance.origin_jurisdiction)
	consent_scopes_known
	captured_in_past
	retained_now
}

enrolling if input.request.operation == "enroll"

violations contains {
	"code": "source_agency_mismatch",
	"message": sprintf("the record's source agency %v is not the enrolling agency %v", [
		object.get(provenance, "source_agency", null), input.subject.agency,
	]),
} if {
	enrolling
	not enrolled_by_subject
}

violations contains {
	"code": "lineage_mismatch",
	"message": sprintf("the record's lineage must end with the enrolling agency %v", [input.subject.agency]),
} if {
	enrolling
	not lineage_ends_with_subject
}

violations contains {
	"code": "unknown_lineage_agency",
	"message": sprintf("lineage agency %v is not known", [agency]),
} if {
	enrolling
	some agency in provenance.lineage
	not agencies.known(agency)
}

violations contains {
	"code": "unknown_origin_jurisdiction",
	"message": sprintf("origin jurisdiction %v is not known", [object.get(provenance, "origin_jurisdiction", null)]),
} if {
	enrolling
	not data.jurisdictions[object.get(input, ["resource", "provenance", "origin_jurisdiction"], null)]
}

violations contains {
	"code": "unknown_consent_scope",
	"message": sprintf("consent scope %v is not known", [scope]),
} if {
	enrolling
	some scope in provenance.consent_scopes
	not consent.known_scope(scope)
}

violations contains {
	"code": "captured_in_future",
	"message": sprintf("captured_at %v is after now", [provenance.captured_at]),
} if {
	enrolling
	not captured_in_past
}

violations contains {
	"code": "retention_expired",
	"message": sprintf("retain_until %v has passed", [provenance.retain_until]),
} if {
	enrolling
	not retained_now
}
