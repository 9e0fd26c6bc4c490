# Agreements (data.agreements): between countries, and between agencies.
#
# An agreement between countries opens a border: a query may reach records of another
# country only under one in force between the two countries. An agreement between agencies
# opens a jurisdiction whose outside_access is "by_agreement" to the agencies that signed
# it with an agency based there. Either kind covers only its purposes, modalities and
# operations, and only requests that meet its offence floor. Every agreement that opens
# something for a query binds the whole query with its caps, score floor, retention of
# shared results and human-review requirement.
package broker.agreements

import data.broker.agencies
import data.broker.clock
import data.broker.jurisdictions
import data.broker.offences

# in_force(agreement): from the start of in_force_from until the end of in_force_until
# (both dates inclusive, UTC).
in_force(agreement) if {
	clock.date_start_ns(agreement.in_force_from) <= clock.now_ns
	clock.now_ns < clock.date_start_ns(agreement.in_force_until) + clock.day_ns
}

# well_formed(agreement): it states the limits it imposes. An agreement that does not is
# never applied, so a typo in the data cannot lift a cap.
well_formed(agreement) if {
	is_number(agreement.max_results)
	is_number(agreement.min_score[input.request.modality])
	is_number(agreement.shared_results_retention_days)
	is_boolean(agreement.human_review_required)
	"offence_floor_months" in object.keys(agreement)
}

# covers_request(agreement): in force, and it covers this request's purpose, modality,
# operation and offence.
covers_request(agreement) if {
	input.request.purpose in agreement.purposes
	input.request.modality in agreement.modalities
	input.request.operation in agreement.operations
	offences.meets_floor(agreement.offence_floor_months)
	well_formed(agreement)
	in_force(agreement)
}

# covers(agreement, home, foreign): an agreement between countries that lets an agency of
# country `home` reach records of country `foreign` for this request.
covers(agreement, home, foreign) if {
	agreement.between == "countries"
	home != foreign
	home in agreement.parties
	foreign in agreement.parties
	covers_request(agreement)
}

# covering(home, foreign): the ids of every agreement that covers this request across
# that border.
covering(home, foreign) := {id |
	some id, agreement in data.agreements
	covers(agreement, home, foreign)
}

# opens(agreement, agency, j): an agreement between agencies, signed by `agency` and by a
# partner agency based in j (or below it), that covers this request.
opens(agreement, agency, j) if {
	agreement.between == "agencies"
	agency in agreement.parties
	some partner in agreement.parties
	partner != agency
	j in jurisdictions.chain(agencies.home_jurisdiction(partner))
	covers_request(agreement)
}

# opening(agency, j): the ids of every agreement between agencies that opens j to `agency`
# for this request.
opening(agency, j) := {id |
	some id, agreement in data.agreements
	opens(agreement, agency, j)
}
