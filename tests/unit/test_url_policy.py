"""The URL policy refuses webhook URLs that would reach loopback, private, link-local, metadata
and other internal addresses, however the address is spelled, unless an allow-list names them;
and it refuses malformed, non-HTTPS and credential-carrying URLs with a reason code each."""

from ipaddress import ip_address, ip_network

import pytest

from deskhook.domain.url_policy import (
    MAX_URL_LENGTH,
    REASON_URL_ADDRESS_REFUSED,
    REASON_URL_BAD_CHARACTER,
    REASON_URL_BAD_HOST,
    REASON_URL_BAD_PORT,
    REASON_URL_HAS_CREDENTIALS,
    REASON_URL_NOT_ABSOLUTE,
    REASON_URL_NOT_HTTPS,
    REASON_URL_TOO_LONG,
    CheckedUrl,
    IPAddress,
    UrlPolicy,
    UrlRefused,
    address_refusal,
    check_url,
    parse_ip_literal,
)

DEFAULT = UrlPolicy()
DEVELOPMENT = UrlPolicy(allow_http=True)
LOOPBACK_LISTED = UrlPolicy(allow_networks=(ip_network("127.0.0.0/8"),))
TEN_LISTED = UrlPolicy(allow_networks=(ip_network("10.0.0.0/8"),))
ULA_LISTED = UrlPolicy(allow_networks=(ip_network("fd00::/8"),))

LONGEST_URL = "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/"))
TEREDO = "2001:0:4136:e378:8000:63bf:3fff:fdd2"


def full_width(text: str) -> str:
    """`text` with its digits in their full-width forms, which IDNA maps back to ASCII ones."""
    return text.translate({ord(digit): ord(digit) + 0xFEE0 for digit in "0123456789"})


@pytest.mark.parametrize(
    ("url", "policy", "expected"),
    [
        pytest.param(
            "https://example.com/hook",
            DEFAULT,
            CheckedUrl("https://example.com/hook", "https", "example.com", 443, None),
            id="public-host-name",
        ),
        pytest.param(
            "https://93.184.216.34/",
            DEFAULT,
            CheckedUrl(
                "https://93.184.216.34/", "https", "93.184.216.34", 443, ip_address("93.184.216.34")
            ),
            id="public-ipv4",
        ),
        pytest.param(
            "https://[2606:2800:220:1::]/",
            DEFAULT,
            CheckedUrl(
                "https://[2606:2800:220:1::]/",
                "https",
                "2606:2800:220:1::",
                443,
                ip_address("2606:2800:220:1::"),
            ),
            id="public-ipv6",
        ),
        pytest.param(
            "HTTPS://Example.COM.:8443/Hook?a=1#top",
            DEFAULT,
            CheckedUrl(
                "HTTPS://Example.COM.:8443/Hook?a=1#top", "https", "example.com", 8443, None
            ),
            id="case-trailing-dot-and-port-normalized-url-kept",
        ),
        pytest.param(
            "https://bücher.example/hook",
            DEFAULT,
            CheckedUrl("https://bücher.example/hook", "https", "xn--bcher-kva.example", 443, None),
            id="idna-host",
        ),
        pytest.param(
            "https://1.2.3.4.example.com/",
            DEFAULT,
            CheckedUrl("https://1.2.3.4.example.com/", "https", "1.2.3.4.example.com", 443, None),
            id="digits-in-a-host-name",
        ),
        pytest.param(
            "https://hooks_eu-1.example.com:65535/",
            DEFAULT,
            CheckedUrl(
                "https://hooks_eu-1.example.com:65535/",
                "https",
                "hooks_eu-1.example.com",
                65535,
                None,
            ),
            id="underscore-hyphen-highest-port",
        ),
        pytest.param(
            "http://example.com/hook",
            DEVELOPMENT,
            CheckedUrl("http://example.com/hook", "http", "example.com", 80, None),
            id="http-when-allowed",
        ),
        pytest.param(
            "https://127.0.0.1:8443/",
            LOOPBACK_LISTED,
            CheckedUrl(
                "https://127.0.0.1:8443/", "https", "127.0.0.1", 8443, ip_address("127.0.0.1")
            ),
            id="loopback-when-listed",
        ),
        pytest.param(
            "https://localhost/",
            LOOPBACK_LISTED,
            CheckedUrl("https://localhost/", "https", "localhost", 443, None),
            id="localhost-when-loopback-listed",
        ),
        pytest.param(
            "https://10.1.2.3/",
            TEN_LISTED,
            CheckedUrl("https://10.1.2.3/", "https", "10.1.2.3", 443, ip_address("10.1.2.3")),
            id="private-when-listed",
        ),
        pytest.param(
            "https://[::ffff:10.1.2.3]/",
            TEN_LISTED,
            CheckedUrl(
                "https://[::ffff:10.1.2.3]/",
                "https",
                "::ffff:a01:203",
                443,
                ip_address("::ffff:a01:203"),
            ),
            id="ipv4-mapped-private-when-listed",
        ),
        pytest.param(
            "https://0x5d.0xb8.0xd8.0x22/",
            DEFAULT,
            CheckedUrl(
                "https://0x5d.0xb8.0xd8.0x22/",
                "https",
                "0x5d.0xb8.0xd8.0x22",
                443,
                ip_address("93.184.216.34"),
            ),
            id="hex-spelled-public-ipv4",
        ),
        pytest.param(
            "https://[::ffff:8.8.8.8]/",
            DEFAULT,
            CheckedUrl(
                "https://[::ffff:8.8.8.8]/",
                "https",
                "::ffff:808:808",
                443,
                ip_address("::ffff:8.8.8.8"),
            ),
            id="ipv4-mapped-public",
        ),
        pytest.param(
            "https://[64:ff9b::808:808]/",
            DEFAULT,
            CheckedUrl(
                "https://[64:ff9b::808:808]/",
                "https",
                "64:ff9b::808:808",
                443,
                ip_address("64:ff9b::808:808"),
            ),
            id="nat64-public",
        ),
        pytest.param(
            "https://[2002:808:808::1]/",
            DEFAULT,
            CheckedUrl(
                "https://[2002:808:808::1]/",
                "https",
                "2002:808:808::1",
                443,
                ip_address("2002:808:808::1"),
            ),
            id="6to4-public",
        ),
        pytest.param(
            LONGEST_URL,
            DEFAULT,
            CheckedUrl(LONGEST_URL, "https", "example.com", 443, None),
            id="exactly-max-length",
        ),
    ],
)
def test_allowed_url(url: str, policy: UrlPolicy, expected: CheckedUrl) -> None:
    assert check_url(url, policy) == expected


@pytest.mark.parametrize(
    ("url", "policy", "reason"),
    [
        # length and characters
        pytest.param(LONGEST_URL + "a", DEFAULT, REASON_URL_TOO_LONG, id="one-over-max-length"),
        pytest.param(
            "https://exa mple.com/", DEFAULT, REASON_URL_BAD_CHARACTER, id="space-in-host"
        ),
        pytest.param(
            "https://example.com/a\tb", DEFAULT, REASON_URL_BAD_CHARACTER, id="tab-in-path"
        ),
        pytest.param(
            "\nhttps://example.com/", DEFAULT, REASON_URL_BAD_CHARACTER, id="leading-newline"
        ),
        pytest.param("https://example.com/\x00", DEFAULT, REASON_URL_BAD_CHARACTER, id="nul"),
        pytest.param(
            "https://exa\u200bmple.com/", DEFAULT, REASON_URL_BAD_CHARACTER, id="zero-width-space"
        ),
        pytest.param(
            "https://example.com/\u3000", DEFAULT, REASON_URL_BAD_CHARACTER, id="ideographic-space"
        ),
        # not absolute
        pytest.param("", DEFAULT, REASON_URL_NOT_ABSOLUTE, id="empty"),
        pytest.param("/hook", DEFAULT, REASON_URL_NOT_ABSOLUTE, id="path-only"),
        pytest.param("example.com/hook", DEFAULT, REASON_URL_NOT_ABSOLUTE, id="no-scheme"),
        pytest.param("//example.com/hook", DEFAULT, REASON_URL_NOT_ABSOLUTE, id="scheme-relative"),
        pytest.param("https:///hook", DEFAULT, REASON_URL_NOT_ABSOLUTE, id="empty-host"),
        pytest.param("https:hook", DEFAULT, REASON_URL_NOT_ABSOLUTE, id="no-authority"),
        # scheme
        pytest.param(
            "http://example.com/hook", DEFAULT, REASON_URL_NOT_HTTPS, id="http-by-default"
        ),
        pytest.param(
            "HTTP://example.com/hook", DEFAULT, REASON_URL_NOT_HTTPS, id="upper-case-http"
        ),
        pytest.param(
            "ftp://example.com/hook",
            DEVELOPMENT,
            REASON_URL_NOT_HTTPS,
            id="ftp-even-in-development",
        ),
        pytest.param("file:///etc/passwd", DEFAULT, REASON_URL_NOT_HTTPS, id="file"),
        pytest.param("javascript:alert(1)", DEFAULT, REASON_URL_NOT_HTTPS, id="javascript"),
        # credentials
        pytest.param(
            "https://user:secret@example.com/",
            DEFAULT,
            REASON_URL_HAS_CREDENTIALS,
            id="user-and-password",
        ),
        pytest.param(
            "https://user@example.com/", DEFAULT, REASON_URL_HAS_CREDENTIALS, id="user-only"
        ),
        pytest.param(
            "https://:secret@example.com/", DEFAULT, REASON_URL_HAS_CREDENTIALS, id="password-only"
        ),
        pytest.param(
            "https://@example.com/", DEFAULT, REASON_URL_HAS_CREDENTIALS, id="empty-user-info"
        ),
        pytest.param(
            "https://example.com@127.0.0.1/",
            DEFAULT,
            REASON_URL_HAS_CREDENTIALS,
            id="host-lookalike-user",
        ),
        # port
        pytest.param("https://example.com:0/", DEFAULT, REASON_URL_BAD_PORT, id="port-zero"),
        pytest.param(
            "https://example.com:65536/", DEFAULT, REASON_URL_BAD_PORT, id="port-too-high"
        ),
        pytest.param("https://example.com:-1/", DEFAULT, REASON_URL_BAD_PORT, id="port-negative"),
        pytest.param(
            "https://example.com:https/", DEFAULT, REASON_URL_BAD_PORT, id="port-not-a-number"
        ),
        pytest.param(
            "https://example.com:+443/", DEFAULT, REASON_URL_BAD_PORT, id="port-with-sign"
        ),
        pytest.param(
            f"https://example.com:{full_width('443')}/",
            DEFAULT,
            REASON_URL_BAD_PORT,
            id="port-full-width-digits",
        ),
        pytest.param(
            "https://[::1]:99999/", DEFAULT, REASON_URL_BAD_PORT, id="port-too-high-after-ipv6"
        ),
        # host syntax
        pytest.param("https://a..example.com/", DEFAULT, REASON_URL_BAD_HOST, id="empty-label"),
        pytest.param(
            "https://example.com../", DEFAULT, REASON_URL_BAD_HOST, id="two-trailing-dots"
        ),
        pytest.param(
            "https://" + "a" * 64 + ".com/", DEFAULT, REASON_URL_BAD_HOST, id="label-too-long"
        ),
        pytest.param(
            "https://" + "a." * 127 + "com/", DEFAULT, REASON_URL_BAD_HOST, id="name-too-long"
        ),
        pytest.param(
            "https://%31%32%37.0.0.1/", DEFAULT, REASON_URL_BAD_HOST, id="percent-encoded-host"
        ),
        pytest.param("https://exa$mple.com/", DEFAULT, REASON_URL_BAD_HOST, id="dollar-in-host"),
        pytest.param("https://:8443/", DEFAULT, REASON_URL_BAD_HOST, id="port-without-host"),
        pytest.param(
            "https://a\u2100b.example/", DEFAULT, REASON_URL_BAD_HOST, id="nfkc-hides-a-slash"
        ),
        pytest.param(
            "https://example.com\\@127.0.0.1/",
            DEFAULT,
            REASON_URL_BAD_HOST,
            id="backslash-in-authority",
        ),
        pytest.param("https://[::1/", DEFAULT, REASON_URL_BAD_HOST, id="unclosed-bracket"),
        pytest.param("https://[127.0.0.1]/", DEFAULT, REASON_URL_BAD_HOST, id="ipv4-in-brackets"),
        pytest.param("https://[v1.example]/", DEFAULT, REASON_URL_BAD_HOST, id="ipvfuture"),
        pytest.param(
            "https://[::1]evil.example/", DEFAULT, REASON_URL_BAD_HOST, id="text-after-brackets"
        ),
        pytest.param("https://example.123/", DEFAULT, REASON_URL_BAD_HOST, id="numeric-last-label"),
        pytest.param(
            "https://1.2.3.256/", DEFAULT, REASON_URL_BAD_HOST, id="ipv4-part-out-of-range"
        ),
        pytest.param("https://1.2.3.4.5/", DEFAULT, REASON_URL_BAD_HOST, id="five-numeric-parts"),
        pytest.param(
            "https://0x7g.0.0.1/",
            DEFAULT,
            REASON_URL_BAD_HOST,
            id="bad-hex-digit-with-numeric-tail",
        ),
        # internal addresses, however spelled
        pytest.param("https://127.0.0.1/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="loopback"),
        pytest.param(
            "http://127.0.0.1/",
            DEVELOPMENT,
            REASON_URL_ADDRESS_REFUSED,
            id="loopback-over-allowed-http",
        ),
        pytest.param("https://localhost/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="localhost"),
        pytest.param(
            "https://LocalHost.:8443/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="localhost-case-dot"
        ),
        pytest.param(
            "https://api.localhost/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="localhost-subdomain"
        ),
        pytest.param("https://10.0.0.1/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="private-10"),
        pytest.param(
            "https://10.0.0.1/",
            LOOPBACK_LISTED,
            REASON_URL_ADDRESS_REFUSED,
            id="private-10-not-listed",
        ),
        pytest.param("https://172.16.5.4/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="private-172"),
        pytest.param("https://192.168.1.1/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="private-192"),
        pytest.param(
            "https://169.254.169.254/latest/meta-data/",
            DEFAULT,
            REASON_URL_ADDRESS_REFUSED,
            id="metadata",
        ),
        pytest.param("https://100.64.0.1/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="cgnat"),
        pytest.param("https://224.0.0.1/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="multicast"),
        pytest.param("https://0.0.0.0/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="unspecified"),
        pytest.param(
            "https://255.255.255.255/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="broadcast"
        ),
        pytest.param(
            "https://192.0.2.10/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="documentation"
        ),
        pytest.param(
            "https://2130706433/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="decimal-integer"
        ),
        pytest.param("https://0177.0.0.1/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="octal-part"),
        pytest.param(
            "https://017700000001/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="octal-integer"
        ),
        pytest.param("https://0x7f.0.0.1/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="hex-part"),
        pytest.param("https://0x7f000001/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="hex-integer"),
        pytest.param(
            "https://0XA9.0XFE.0XA9.0XFE/",
            DEFAULT,
            REASON_URL_ADDRESS_REFUSED,
            id="upper-hex-metadata",
        ),
        pytest.param("https://127.1/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="short-two-parts"),
        pytest.param(
            "https://127.0.1/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="short-three-parts"
        ),
        pytest.param("https://0/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="zero"),
        pytest.param("https://0x7f.1/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="mixed-hex-short"),
        pytest.param(
            "https://0177.0x0.1/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="mixed-octal-hex-decimal"
        ),
        pytest.param(
            "https://10.0x1.011/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="mixed-private"
        ),
        pytest.param("https://127.0.0.1./", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="trailing-dot"),
        pytest.param(
            f"https://{full_width('127.0.0.1')}/",
            DEFAULT,
            REASON_URL_ADDRESS_REFUSED,
            id="full-width-digits",
        ),
        pytest.param(
            "https://127。0。0。1/",
            DEFAULT,
            REASON_URL_ADDRESS_REFUSED,
            id="ideographic-full-stops",
        ),
        pytest.param("https://[::1]/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="ipv6-loopback"),
        pytest.param(
            "https://[0:0:0:0:0:0:0:1]:8443/",
            DEFAULT,
            REASON_URL_ADDRESS_REFUSED,
            id="ipv6-loopback-long",
        ),
        pytest.param("https://[::]/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="ipv6-unspecified"),
        pytest.param(
            "https://[::ffff:127.0.0.1]/",
            DEFAULT,
            REASON_URL_ADDRESS_REFUSED,
            id="ipv4-mapped-dotted",
        ),
        pytest.param(
            "https://[::ffff:7f00:1]/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="ipv4-mapped-hex"
        ),
        pytest.param(
            "https://[::FFFF:A9FE:A9FE]/",
            DEFAULT,
            REASON_URL_ADDRESS_REFUSED,
            id="ipv4-mapped-metadata",
        ),
        pytest.param(
            "https://[::ffff:0:7f00:1]/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="ipv4-translated"
        ),
        pytest.param(
            "https://[::127.0.0.1]/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="ipv4-compatible"
        ),
        pytest.param(
            "https://[64:ff9b::a9fe:a9fe]/",
            DEFAULT,
            REASON_URL_ADDRESS_REFUSED,
            id="nat64-metadata",
        ),
        pytest.param(
            "https://[2002:7f00:1::]/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="6to4-loopback"
        ),
        pytest.param(
            "https://[2002:c0a8:101::1]/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="6to4-private"
        ),
        pytest.param(f"https://[{TEREDO}]/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="teredo"),
        pytest.param(
            "https://[fd00:ec2::254]/",
            DEFAULT,
            REASON_URL_ADDRESS_REFUSED,
            id="unique-local-metadata",
        ),
        pytest.param(
            "https://[fe80::1%25eth0]/",
            DEFAULT,
            REASON_URL_ADDRESS_REFUSED,
            id="link-local-zone-id",
        ),
        pytest.param(
            "https://[ff02::1]/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="ipv6-multicast"
        ),
        pytest.param(
            "https://[2001:db8::1]/", DEFAULT, REASON_URL_ADDRESS_REFUSED, id="ipv6-documentation"
        ),
        pytest.param(
            "https://[::ffff:10.0.0.1]/",
            LOOPBACK_LISTED,
            REASON_URL_ADDRESS_REFUSED,
            id="mapped-private-not-listed",
        ),
    ],
)
def test_refused_url(url: str, policy: UrlPolicy, reason: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        check_url(url, policy)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("url", "policy", "message"),
    [
        pytest.param("http://example.com/", DEFAULT, "the URL must use https", id="https-only"),
        pytest.param(
            "ftp://example.com/", DEVELOPMENT, "the URL must use https or http", id="http-allowed"
        ),
        pytest.param(
            "https://169.254.169.254/",
            DEFAULT,
            "the URL's host 169.254.169.254 is a refused address (link-local (cloud metadata)); "
            "list its network in the server's --allow-network (DESKHOOK_ALLOW_NETWORKS) to "
            "permit it",
            id="names-the-range",
        ),
        pytest.param(
            LONGEST_URL + "a",
            DEFAULT,
            f"the URL is {MAX_URL_LENGTH + 1} characters long; "
            f"at most {MAX_URL_LENGTH} are allowed",
            id="says-the-limit",
        ),
    ],
)
def test_refusal_is_a_sentence(url: str, policy: UrlPolicy, message: str) -> None:
    with pytest.raises(UrlRefused) as refused:
        check_url(url, policy)
    assert refused.value.message == message
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("127.0.0.1", "127.0.0.1", id="dotted-decimal"),
        pytest.param("2130706433", "127.0.0.1", id="decimal-integer"),
        pytest.param("4294967295", "255.255.255.255", id="largest-integer"),
        pytest.param("0177.0.0.1", "127.0.0.1", id="octal-part"),
        pytest.param("017700000001", "127.0.0.1", id="octal-integer"),
        pytest.param("010.0.0.1", "8.0.0.1", id="leading-zero-is-octal"),
        pytest.param("0x7f.0.0.1", "127.0.0.1", id="hex-part"),
        pytest.param("0X7F.0X0.0X0.0X1", "127.0.0.1", id="upper-case-hex"),
        pytest.param("0x7f000001", "127.0.0.1", id="hex-integer"),
        pytest.param("0x0000007f.1", "127.0.0.1", id="hex-leading-zeros"),
        pytest.param("0x", "0.0.0.0", id="bare-hex-prefix"),  # noqa: S104 (not a bind address)
        pytest.param("127.1", "127.0.0.1", id="two-parts"),
        pytest.param("127.0.1", "127.0.0.1", id="three-parts"),
        pytest.param("1.16777215", "1.255.255.255", id="two-parts-largest-tail"),
        pytest.param("1.2.65535", "1.2.255.255", id="three-parts-largest-tail"),
        pytest.param("0177.0x0.1", "127.0.0.1", id="mixed"),
        pytest.param("127.0.0.1.", "127.0.0.1", id="one-trailing-dot"),
        pytest.param("::1", "::1", id="ipv6"),
        pytest.param("[::1]", "::1", id="bracketed-ipv6"),
        pytest.param("[::ffff:127.0.0.1]", "::ffff:7f00:1", id="bracketed-ipv4-mapped"),
        pytest.param("[fe80::1%eth0]", "fe80::1", id="zone-id-stripped"),
        pytest.param("fe80::1%25eth0", "fe80::1", id="percent-encoded-zone-id-stripped"),
        pytest.param("example.com", None, id="host-name"),
        pytest.param("1.2.3.4.example.com", None, id="address-like-prefix"),
        pytest.param("localhost", None, id="localhost-is-a-name"),
        pytest.param("", None, id="empty"),
        pytest.param("4294967296", None, id="integer-over-32-bits"),
        pytest.param("99999999999", None, id="eleven-digits"),
        pytest.param("256.0.0.1", None, id="leading-part-over-255"),
        pytest.param("1.16777216", None, id="two-parts-tail-too-big"),
        pytest.param("1.2.65536", None, id="three-parts-tail-too-big"),
        pytest.param("1.2.3.256", None, id="four-parts-tail-too-big"),
        pytest.param("08.0.0.1", None, id="eight-is-not-octal"),
        pytest.param("0x7g.0.0.1", None, id="bad-hex-digit"),
        pytest.param("1..2", None, id="empty-part"),
        pytest.param("1.2.3.4.5", None, id="five-parts"),
        pytest.param("1.2.3.4.0", None, id="five-parts-ending-in-zero"),
        pytest.param("127.0.0.1..", None, id="two-trailing-dots"),
        pytest.param("-1", None, id="negative"),
        pytest.param("+127.0.0.1", None, id="plus-sign"),
        pytest.param("١٢٧.0.0.1", None, id="non-ascii-digits"),
        pytest.param("[127.0.0.1]", None, id="ipv4-in-brackets"),
        pytest.param("[::1", None, id="unclosed-bracket"),
        pytest.param(":::", None, id="bad-ipv6"),
        pytest.param("::ffff:0177.0.0.1", None, id="octal-inside-ipv6"),
    ],
)
def test_parse_ip_literal(host: str, expected: str | None) -> None:
    assert parse_ip_literal(host) == (None if expected is None else ip_address(expected))


@pytest.mark.parametrize(
    ("address", "policy", "refusal"),
    [
        pytest.param("8.8.8.8", DEFAULT, None, id="public-ipv4"),
        pytest.param("93.184.216.34", DEFAULT, None, id="example-com"),
        pytest.param("2001:4860:4860::8888", DEFAULT, None, id="public-ipv6"),
        pytest.param("172.32.0.1", DEFAULT, None, id="just-above-172-16-12"),
        pytest.param("100.128.0.1", DEFAULT, None, id="just-above-cgnat"),
        pytest.param("127.0.0.1", DEFAULT, "loopback", id="loopback"),
        pytest.param("127.255.255.254", DEFAULT, "loopback", id="loopback-whole-8"),
        pytest.param("::1", DEFAULT, "loopback", id="ipv6-loopback"),
        pytest.param("10.0.0.1", DEFAULT, "private", id="private-10"),
        pytest.param("172.16.0.1", DEFAULT, "private", id="private-172-low"),
        pytest.param("172.31.255.255", DEFAULT, "private", id="private-172-high"),
        pytest.param("192.168.1.1", DEFAULT, "private", id="private-192"),
        pytest.param("fd00::1", DEFAULT, "private", id="unique-local"),
        pytest.param("169.254.169.254", DEFAULT, "link-local (cloud metadata)", id="metadata"),
        pytest.param("fe80::1", DEFAULT, "link-local", id="ipv6-link-local"),
        pytest.param("100.64.0.1", DEFAULT, "carrier-grade NAT", id="cgnat-low"),
        pytest.param("100.127.255.255", DEFAULT, "carrier-grade NAT", id="cgnat-high"),
        pytest.param("224.0.0.1", DEFAULT, "multicast", id="multicast"),
        pytest.param("239.255.255.250", DEFAULT, "multicast", id="multicast-ssdp"),
        pytest.param("ff02::1", DEFAULT, "multicast", id="ipv6-multicast"),
        pytest.param("0.0.0.0", DEFAULT, "unspecified", id="unspecified"),  # noqa: S104 (not a bind address)
        pytest.param("0.1.2.3", DEFAULT, "unspecified", id="this-network"),
        pytest.param("::", DEFAULT, "unspecified", id="ipv6-unspecified"),
        pytest.param("240.0.0.1", DEFAULT, "reserved", id="class-e"),
        pytest.param("255.255.255.255", DEFAULT, "reserved", id="broadcast"),
        pytest.param("192.0.0.8", DEFAULT, "reserved", id="ietf-protocol-assignments"),
        pytest.param("192.0.2.1", DEFAULT, "documentation", id="test-net-1"),
        pytest.param("198.51.100.1", DEFAULT, "documentation", id="test-net-2"),
        pytest.param("203.0.113.1", DEFAULT, "documentation", id="test-net-3"),
        pytest.param("2001:db8::1", DEFAULT, "documentation", id="ipv6-documentation"),
        pytest.param("198.18.0.1", DEFAULT, "benchmarking", id="benchmarking-low"),
        pytest.param("198.19.255.255", DEFAULT, "benchmarking", id="benchmarking-high"),
        pytest.param("fec0::1", DEFAULT, "site-local", id="site-local"),
        pytest.param("100::1", DEFAULT, "reserved", id="not-global-discard-only"),
        pytest.param("::ffff:127.0.0.1", DEFAULT, "loopback", id="ipv4-mapped"),
        pytest.param("::ffff:8.8.8.8", DEFAULT, None, id="ipv4-mapped-public"),
        pytest.param(
            "::ffff:0:a9fe:a9fe", DEFAULT, "link-local (cloud metadata)", id="ipv4-translated"
        ),
        pytest.param("::10.0.0.1", DEFAULT, "private", id="ipv4-compatible"),
        pytest.param("64:ff9b::7f00:1", DEFAULT, "loopback", id="nat64"),
        pytest.param("64:ff9b::808:808", DEFAULT, None, id="nat64-public"),
        pytest.param("2002:a9fe:a9fe::1", DEFAULT, "link-local (cloud metadata)", id="6to4"),
        pytest.param("2002:808:808::1", DEFAULT, None, id="6to4-public"),
        pytest.param(TEREDO, DEFAULT, "Teredo tunnel", id="teredo"),
        pytest.param("127.0.0.1", LOOPBACK_LISTED, None, id="listed-loopback"),
        pytest.param("::ffff:127.0.0.1", LOOPBACK_LISTED, None, id="listed-via-embedded-ipv4"),
        pytest.param("64:ff9b::a00:1", TEN_LISTED, None, id="listed-via-nat64"),
        pytest.param("2002:a00:1::", TEN_LISTED, None, id="listed-via-6to4"),
        pytest.param("fd00::1", ULA_LISTED, None, id="listed-ipv6"),
        pytest.param("10.0.0.1", LOOPBACK_LISTED, "private", id="other-network-listed"),
        pytest.param("::1", LOOPBACK_LISTED, "loopback", id="ipv4-listing-not-ipv6-loopback"),
        pytest.param(TEREDO, TEN_LISTED, "Teredo tunnel", id="teredo-not-unwrapped"),
    ],
)
def test_address_refusal(address: str, policy: UrlPolicy, refusal: str | None) -> None:
    parsed: IPAddress = ip_address(address)
    assert address_refusal(parsed, policy) == refusal
