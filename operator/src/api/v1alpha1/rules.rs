//! CEL rules shared by several fields, so that the API server refuses the same bad input in the
//! same words wherever it appears.

use kube::core::{Message, Rule};

/// What concejo accepts as a quantity: a non-negative decimal with one of Kubernetes' suffixes,
/// or an exponent of at most two digits. Stricter than Kubernetes' own syntax on purpose: the
/// API server's quantity parser spins on exponents such as `1e-2147483648`
/// (kubernetes/kubernetes#141306), so every rule matches this pattern before it calls
/// `isQuantity` or `quantity` (CEL's `&&` and `||` stop at the first operand that decides).
pub const QUANTITY: &str = r"^[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]{1,2}|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$";

/// The largest quantity any field takes (CPU, memory or storage): far beyond any tenant, and
/// small enough that concejo's exact arithmetic (`domain::quantity`) holds it.
pub const QUANTITY_LIMIT: &str = "1e21";

/// `field` must be a quantity as [`QUANTITY`] says and below [`QUANTITY_LIMIT`].
pub fn quantity(field: &str, example: &str) -> Rule {
    Rule::new(format!(
        "self.matches('{QUANTITY}') && isQuantity(self) && quantity(self).compareTo(quantity('{QUANTITY_LIMIT}')) < 0"
    ))
    .message(Message::Message(format!(
        "{field} must be a non-negative quantity such as {example}: digits, optionally a fraction, then one suffix \
         (m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei) or an exponent of at most two digits (e3), below {QUANTITY_LIMIT}"
    )))
}

/// A storage size may grow but never shrink; only compared when both sides are quantities
/// concejo accepts (the rule above reports the others).
pub fn never_shrinks(field: &str) -> Rule {
    Rule::new(format!(
        "!self.matches('{QUANTITY}') || !oldSelf.matches('{QUANTITY}') || quantity(self).compareTo(quantity(oldSelf)) >= 0"
    ))
    .message(Message::Expression(format!(
        "'{field} may grow but never shrink (volumes cannot be made smaller): it is ' + oldSelf + ', not ' + self"
    )))
}

/// The name of another object (a Province, a ServicePlan, a StorageClass): a DNS subdomain, so
/// that look-alike letters of other alphabets are refused here instead of naming nothing.
pub fn object_name(field: &str, example: &str) -> Rule {
    Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')").message(Message::Message(format!(
        "{field} must name an object: lower-case ASCII letters, digits, '-' and '.', starting and ending with a letter \
         or digit, such as {example}"
    )))
}

/// A namespace's name: a DNS label.
pub fn namespace_name(field: &str, example: &str) -> Rule {
    Rule::new("self.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')").message(Message::Message(format!(
        "{field} must be a namespace name: at most 63 lower-case ASCII letters, digits and '-', such as {example}"
    )))
}

/// Ranges no rule may open: loopback, "this network", link-local (which holds the clouds'
/// metadata services, 169.254.169.254 and fd00:ec2::254 aside). Written for a CIDR string `c`
/// that is known to be one. (IPv4-mapped IPv6 needs no rule: CEL's `isCIDR` refuses it, and
/// `cidr('::ffff:0:0/96')` cannot even be written.)
fn special_ranges(c: &str) -> String {
    format!(
        "(cidr({c}).ip().family() == 4 ? \
         (cidr('127.0.0.0/8').containsCIDR({c}) || cidr('0.0.0.0/8').containsCIDR({c}) || \
         cidr('169.254.0.0/16').containsCIDR({c})) : \
         (cidr({c}).containsIP('::1') || cidr({c}).containsIP('::') || cidr({c}).containsIP('fd00:ec2::254') || \
         cidr('fe80::/10').containsCIDR({c})))"
    )
}

/// What the refusal of [`special_ranges`] says.
const SPECIAL_RANGES: &str = "loopback (127.0.0.0/8, ::1), 0.0.0.0/8 and link-local (169.254.0.0/16, fe80::/10: \
                              the cloud metadata service 169.254.169.254 is there)";

/// An egress CIDR must not reach the node itself or the cloud's metadata service.
pub fn egress_not_special() -> Rule {
    Rule::new(format!("!isCIDR(self) || !{}", special_ranges("self"))).message(Message::Message(format!(
        "egress cidr must not be in {SPECIAL_RANGES}: those reach the node or the cloud's credentials, not a \
         destination of the town hall; list the destinations it needs, such as 192.0.2.10/32"
    )))
}

/// Red SARA's ranges are at most a /8 (IPv4) or a /32 (IPv6).
pub fn sara_cidrs_width() -> Rule {
    Rule::new("self.all(c, !isCIDR(c) || cidr(c).prefixLength() >= (cidr(c).ip().family() == 4 ? 8 : 32))").message(
        "every sara.cidrs entry must be at most a /8 (IPv4) or a /32 (IPv6): Red SARA is reached through private \
         ranges such as 10.252.0.0/16, and 0.0.0.0/0 would open every tenant with network.sara to the internet",
    )
}

/// Red SARA's ranges are none of the special ranges.
pub fn sara_cidrs_not_special() -> Rule {
    Rule::new(format!("self.all(c, !isCIDR(c) || !{})", special_ranges("c"))).message(Message::Message(format!(
        "no sara.cidrs entry may be in {SPECIAL_RANGES}: Red SARA's ranges are private ranges such as 10.252.0.0/16"
    )))
}

/// The SARA resolver must be a real address, not the node's loopback or a link-local address.
pub fn sara_resolver() -> Rule {
    Rule::new("!isIP(self) || !(ip(self).isLoopback() || ip(self).isUnspecified() || ip(self).isLinkLocalUnicast())")
        .message("sara.resolver must be the address of SARA's DNS resolver, such as 10.252.0.53, not a loopback, unspecified or link-local address")
}

/// Subjects of the tenant roles: never Kubernetes' own `system:` users and groups.
pub fn subject_not_system() -> Rule {
    Rule::new("!self.startsWith('system:')").message(
        "admins and auditors must not name Kubernetes' own system: users and groups (system:authenticated is every \
         user of the cluster, system:masters its administrators); name the town hall's group, such as oidc:leon-admins",
    )
}

/// Subjects are written in ASCII, so a look-alike letter cannot name a different group unseen.
pub fn subject_ascii() -> Rule {
    Rule::new("self.matches('^[A-Za-z0-9][-A-Za-z0-9:._@/+=, ]*$')").message(
        "admins and auditors names must start with an ASCII letter or digit and hold only ASCII letters, digits, \
         spaces and - : . _ @ / + = , (a look-alike letter of another alphabet names another group), such as \
         oidc:leon-admins",
    )
}
