/**
 * Docker image references, checked against the grammar Docker itself parses them with:
 * github.com/distribution/reference, reference.go (the grammar in its header comment) and regexp.go
 * (the expressions), as `docker pull` and the Docker provider read them (ParseNormalizedNamed).
 *
 *   reference        := name [ ":" tag ] [ "@" digest ]
 *   name             := [domain '/'] remote-name
 *   domain           := host [':' port-number]
 *   host             := domain-name | IPv4address | \[ IPv6address \]
 *   domain-name      := domain-component ['.' domain-component]*
 *   domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
 *   remote-name      := path-component ['/' path-component]*
 *   path-component   := alpha-numeric [separator alpha-numeric]*
 *   alpha-numeric    := /[a-z0-9]+/
 *   separator        := /[_.]|__|[-]+/
 *   tag              := /[\w][\w.-]{0,127}/
 *   digest           := algorithm ":" /[0-9a-fA-F]{32,}/, algorithm := /[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*\/
 *
 * plus the limits reference.go enforces: a name of at most 255 characters (NameTotalLengthMax), and
 * the digests github.com/opencontainers/go-digest validates (sha256: 64 lower-case hex, sha512: 128).
 */
const ALPHA_NUMERIC = "[a-z0-9]+";
const SEPARATOR = "(?:[_.]|__|[-]+)";
const PATH_COMPONENT = `${ALPHA_NUMERIC}(?:${SEPARATOR}${ALPHA_NUMERIC})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_HOST = "\\[(?:[a-fA-F0-9:]+)\\]";
const DOMAIN = `(?:${DOMAIN_NAME}|${IPV6_HOST})(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";

const REFERENCE = new RegExp(`^(${NAME})(?::${TAG})?(?:@(${DIGEST}))?$`);

/** reference.go NameTotalLengthMax. */
const NAME_TOTAL_LENGTH_MAX = 255;

/** Hex lengths of the digest algorithms go-digest registers (algorithm.go, Algorithm.Size). */
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** Whether `ref` is an image reference Docker accepts, such as "mysql:8.4" or "ghcr.io/org/app@sha256:<64 hex>". */
export function isImageReference(ref: string): boolean {
    const m = REFERENCE.exec(ref);
    if (!m) return false;
    const [, name, digest] = m;
    if (name!.length > NAME_TOTAL_LENGTH_MAX) return false;
    if (digest !== undefined) {
        const [algorithm, hex] = digest.split(":") as [string, string];
        const expected = DIGEST_HEX_LENGTH[algorithm];
        // go-digest refuses an algorithm it does not know (ErrDigestUnsupported), and an encoded part
        // that is not lower-case hex of the algorithm's length (algorithm.go, anchoredEncodedRegexp).
        if (expected === undefined || hex.length !== expected || !/^[a-f0-9]+$/.test(hex)) return false;
    }
    return true;
}
