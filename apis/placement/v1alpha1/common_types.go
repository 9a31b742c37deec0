/*
Copyright The Proxima Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

// Labels and condition types shared by the placement API.
const (
	// SiteLabel on a Node names the Site the node belongs to. A node without
	// it belongs to no site, and no pod with a PlacementPolicy lands on it.
	// It is under node-restriction.kubernetes.io/, which the NodeRestriction
	// admission plugin forbids a kubelet to set or change on its own Node
	// (and which the kubelet refuses in --node-labels): a node's site, and
	// so the residency of what runs on it, rests on an administrator's
	// word, never on the node's. Label nodes with admin credentials.
	SiteLabel = "node-restriction.kubernetes.io/placement.proxima.dev-site"
	// LegacySiteLabel is the site label of earlier releases. A kubelet can
	// set it on its own Node, so it is ignored unless the scheduler and
	// controller are told to accept it (acceptLegacySiteLabel,
	// --accept-legacy-site-label) while nodes are relabelled with SiteLabel;
	// SiteLabel wins when a node carries both.
	LegacySiteLabel = "placement.proxima.dev/site"
	// PolicyLabel on a Pod names the PlacementPolicy (in the pod's namespace)
	// that governs it, overriding any podSelector match.
	PolicyLabel = "placement.proxima.dev/policy"
	// PlacementAnnotation on a Pod says where its PlacementPolicy placed it
	// and why: site, tier, country, RTT per source and hourly cost. The
	// scheduler writes it with the binding.
	PlacementAnnotation = "placement.proxima.dev/placement"
	// PlacementRecordAnnotation on a Pod is the same placement as a
	// versioned JSON document, a PlacementRecord: site, node, tier,
	// country, RTT per source and cost with their provenance, the score's
	// terms, the number of feasible sites, the runner-up site and the world
	// generation it was scored on. The scheduler writes it with the
	// binding, next to PlacementAnnotation; `kubectl proxima explain` reads
	// it. Its schema is stable (docs/placement-record.md).
	PlacementRecordAnnotation = "placement.proxima.dev/placement-record"

	// PolicyGate is the scheduling gate that holds a pod until its
	// PlacementPolicy resolves: proxima-controller removes it once the pod's
	// policy label names an existing policy, or a policy's podSelector in
	// the pod's namespace selects it. Pods created before their policy
	// (a Deployment applied before its PlacementPolicy) then wait instead of
	// being placed with no rules.
	PolicyGate = "placement.proxima.dev/policy"
	// PolicyRequiredAnnotation "true" on a Pod says that a PlacementPolicy
	// must govern it: proxima-controller sets it when it lifts PolicyGate.
	// A scheduler that resolves no policy for such a pod (it has not seen
	// the policy yet, or the policy was deleted) leaves it unschedulable
	// instead of placing it with no rules. Which policy governs it is
	// resolved anew, by label and priority, every time it is scheduled or
	// judged.
	PolicyRequiredAnnotation = "placement.proxima.dev/policy-required"

	// ConditionReady is True when an object's cross-object references
	// resolve and, for a PlacementPolicy, its hard rules leave some site.
	ConditionReady = "Ready"
)

// Reasons of the Ready condition.
const (
	ReasonResolved       = "Resolved"
	ReasonUnknownSite    = "UnknownSite"
	ReasonUnknownSource  = "UnknownSource"
	ReasonNoFeasibleSite = "NoFeasibleSite"
	// ReasonInvalidRule: a rule passed admission but cannot be evaluated
	// (for example a denied country that is not a country code).
	ReasonInvalidRule  = "InvalidRule"
	ReasonNodesReady   = "NodesReady"
	ReasonNoReadyNodes = "NoReadyNodes"
)

// CountryCode is an alias of string, so that code handling countries needs no
// conversions; the schema of every field of this type gets its enum.

// CountryCode is an ISO 3166-1 alpha-2 country code in upper case, e.g. "DE":
// one of the 249 codes officially assigned by the ISO 3166 Maintenance
// Agency. Reserved and user-assigned codes are refused: the United Kingdom is
// GB (not UK), and areas such as the EU are jurisdiction tags, not countries.
// +kubebuilder:validation:MaxLength=2
// +kubebuilder:validation:Enum=AD;AE;AF;AG;AI;AL;AM;AO;AQ;AR;AS;AT;AU;AW;AX;AZ;BA;BB;BD;BE;BF;BG;BH;BI;BJ;BL;BM;BN;BO;BQ;BR;BS;BT;BV;BW;BY;BZ;CA;CC;CD;CF;CG;CH;CI;CK;CL;CM;CN;CO;CR;CU;CV;CW;CX;CY;CZ;DE;DJ;DK;DM;DO;DZ;EC;EE;EG;EH;ER;ES;ET;FI;FJ;FK;FM;FO;FR;GA;GB;GD;GE;GF;GG;GH;GI;GL;GM;GN;GP;GQ;GR;GS;GT;GU;GW;GY;HK;HM;HN;HR;HT;HU;ID;IE;IL;IM;IN;IO;IQ;IR;IS;IT;JE;JM;JO;JP;KE;KG;KH;KI;KM;KN;KP;KR;KW;KY;KZ;LA;LB;LC;LI;LK;LR;LS;LT;LU;LV;LY;MA;MC;MD;ME;MF;MG;MH;MK;ML;MM;MN;MO;MP;MQ;MR;MS;MT;MU;MV;MW;MX;MY;MZ;NA;NC;NE;NF;NG;NI;NL;NO;NP;NR;NU;NZ;OM;PA;PE;PF;PG;PH;PK;PL;PM;PN;PR;PS;PT;PW;PY;QA;RE;RO;RS;RU;RW;SA;SB;SC;SD;SE;SG;SH;SI;SJ;SK;SL;SM;SN;SO;SR;SS;ST;SV;SX;SY;SZ;TC;TD;TF;TG;TH;TJ;TK;TL;TM;TN;TO;TR;TT;TV;TW;TZ;UA;UG;UM;US;UY;UZ;VA;VC;VE;VG;VI;VN;VU;WF;WS;YE;YT;ZA;ZM;ZW
type CountryCode = string

// GeoLocation is a point on Earth in decimal degrees (WGS 84), written as
// decimal strings so that no floating-point value is stored in the API.
type GeoLocation struct {
	// latitude in decimal degrees, from -90 (south) to 90 (north), e.g. "48.8566".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=12
	// +kubebuilder:validation:Pattern=`^-?[0-9]{1,2}(\.[0-9]{1,8})?$`
	// +kubebuilder:validation:XValidation:rule="double(self) >= -90.0 && double(self) <= 90.0",message="latitude must be between -90 and 90 degrees"
	Latitude string `json:"latitude"`

	// longitude in decimal degrees, from -180 (west) to 180 (east), e.g. "2.3522".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=13
	// +kubebuilder:validation:Pattern=`^-?[0-9]{1,3}(\.[0-9]{1,8})?$`
	// +kubebuilder:validation:XValidation:rule="double(self) >= -180.0 && double(self) <= 180.0",message="longitude must be between -180 and 180 degrees"
	Longitude string `json:"longitude"`
}
