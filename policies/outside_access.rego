# Outside access: a jurisdiction whose outside_access is "by_agreement" admits an agency
# based outside it only under an agreement between agencies, in force, with an agency based
# in it (agreements.rego). Any value other than "open", or none, counts as "by_agreement".
package broker.outside_access

import data.broker.agencies
import data.broker.agreements
import data.broker.jurisdictions

open(j) if data.jurisdictions[j].outside_access == "open"

# caller_within(j): the caller's agency is based in j or below it.
caller_within(j) if j in jurisdictions.chain(agencies.home_jurisdiction(input.subject.agency))

# gates(js): the jurisdictions among js that admit the caller only under an agreement.
gates(js) := {j |
	some j in js
	not open(j)
	not caller_within(j)
}

# opening(j): the agreements that open gate j to the caller for this request.
opening(j) := agreements.opening(input.subject.agency, j)

# admitted(js): every gate among js is opened by some agreement.
admitted(js) if {
	every j in gates(js) {
		count(opening(j)) > 0
	}
}

# closed(js): the gates among js that no agreement opens.
closed(js) := {j | some j in gates(js); count(opening(j)) == 0}
