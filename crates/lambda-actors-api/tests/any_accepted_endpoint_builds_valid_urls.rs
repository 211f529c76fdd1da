//! Property: whatever `AWS_LAMBDA_RUNTIME_API` value `Endpoint::parse` accepts, every URL the
//! runtime builds from it parses as a URI, and making a client from it does not panic; what it
//! refuses gets an error naming the variable and the value.

use lambda_actors_api::{Endpoint, RuntimeClient};
use proptest::prelude::*;

/// Values shaped like endpoints, with the characters that have broken URL parsers before:
/// non-ASCII, `<`, `>`, a backtick, braces, `%`, `\`, `|`, `^`, `"`, spaces and controls.
fn endpoint_like() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![Just(""), Just("http://"), Just("HTTP://"), Just("https://")];
    let host = prop_oneof![
        Just("127.0.0.1".to_owned()),
        Just("localhost".to_owned()),
        Just("[::1]".to_owned()),
        "[a-z0-9._-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(8).collect()),
    ];
    let port = prop_oneof![Just(":9001".to_owned()), Just(String::new()), ":[0-9]{1,6}"];
    let path = prop_oneof![
        Just(String::new()),
        "(/[a-zA-Z0-9._~%<>`{}|^\"\\\\ \u{e9}\u{1f980}!$&'()*+,;=:@-]{0,6}){0,3}/?",
        any::<String>().prop_map(|s| format!("/{}", s.chars().take(10).collect::<String>())),
    ];
    (scheme, host, port, path).prop_map(|(s, h, p, path)| format!("{s}{h}{p}{path}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn accepted_endpoints_build_urls_that_parse(value in endpoint_like()) {
        match Endpoint::parse(&value) {
            Ok(endpoint) => {
                let urls = [
                    endpoint.next_url(),
                    endpoint.response_url("8476a536-e9f4-11e8-9739-2dfe598c3fcd"),
                    endpoint.error_url("a/b c\u{e9}"),
                    endpoint.init_error_url(),
                    endpoint.extension_register_url(),
                    endpoint.extension_next_url(),
                ];
                for url in urls {
                    prop_assert!(
                        url.parse::<awc::http::Uri>().is_ok(),
                        "{value:?} was accepted, but {url:?} is not a URI"
                    );
                }
                // The client parses the `/next` URL once, at construction.
                drop(RuntimeClient::new(&endpoint));
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(text.contains("AWS_LAMBDA_RUNTIME_API"), "{text}");
                prop_assert!(text.contains(&format!("{value:?}")), "{text}");
            }
        }
    }
}
