//! Find the exact bytes of a top-level member of a JSON object, without
//! re-serialising anything. Alipay signs the raw text of its
//! `*_response` object, so verification must use the bytes as received.

/// The members of a top-level JSON object: (decoded key, raw value bytes).
///
/// Walks the text once, honouring strings and escapes, so braces or quotes
/// inside string values never confuse it. `None` if the text is not a single
/// JSON object.
pub fn top_level_members(text: &str) -> Option<Vec<(String, &str)>> {
    let bytes = text.as_bytes();
    let mut i = skip_ws(bytes, 0);
    if bytes.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    let mut members = Vec::new();
    i = skip_ws(bytes, i);
    if bytes.get(i) == Some(&b'}') {
        return (skip_ws(bytes, i + 1) == bytes.len()).then_some(members);
    }
    loop {
        i = skip_ws(bytes, i);
        let key_start = i;
        let key_end = skip_string(bytes, i)?;
        let key: String = serde_json::from_str(text.get(key_start..key_end)?).ok()?;
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(bytes, i + 1);
        let value_start = i;
        let value_end = skip_value(bytes, i)?;
        members.push((key, text.get(value_start..value_end)?));
        i = skip_ws(bytes, value_end);
        match bytes.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {
                return (skip_ws(bytes, i + 1) == bytes.len()).then_some(members);
            }
            _ => return None,
        }
    }
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// `i` is at an opening quote; returns the index just past the closing one.
fn skip_string(bytes: &[u8], mut i: usize) -> Option<usize> {
    if bytes.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    loop {
        match bytes.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
}

/// Skip one JSON value of any kind; containers by depth counting outside
/// strings. Scalars run to the next delimiter (serde checks them later).
fn skip_value(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes.get(i)? {
        b'"' => skip_string(bytes, i),
        b'{' | b'[' => {
            // A stack of expected closers, so `{]` is refused.
            let mut open: Vec<u8> = Vec::new();
            let mut j = i;
            loop {
                match bytes.get(j)? {
                    b'"' => {
                        j = skip_string(bytes, j)?;
                        continue;
                    }
                    b'{' => open.push(b'}'),
                    b'[' => open.push(b']'),
                    closer @ (b'}' | b']') => {
                        if open.pop()? != *closer {
                            return None;
                        }
                        if open.is_empty() {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while let Some(b) = bytes.get(j) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn member<'a>(text: &'a str, key: &str) -> Option<&'a str> {
        top_level_members(text)?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    #[test]
    fn exact_bytes_with_tricky_strings() {
        let obj = r#"{"code":"10000","msg":"a \"quoted\" } { brace","subject":"\u6d4b\u8bd5 \\","n":[1,{"x":"]"}]}"#;
        let text = format!("{{\"alipay_trade_query_response\":{obj},\"sign\":\"abc==\"}}");
        assert_eq!(member(&text, "alipay_trade_query_response"), Some(obj));
        assert_eq!(member(&text, "sign"), Some("\"abc==\""));
    }

    #[test]
    fn whitespace_and_order_are_kept() {
        let obj = "{ \"code\" : \"10000\" ,\n \"msg\":\"Success\" }";
        let text = format!(" {{ \"sign\" : \"s\" ,\n \"alipay_trade_close_response\" : {obj} }} ");
        assert_eq!(member(&text, "alipay_trade_close_response"), Some(obj));
    }

    #[test]
    fn escaped_keys_are_decoded() {
        let text = r#"{"alipay_trade_query_\u0072esponse":{"a":1},"sign":"x"}"#;
        assert_eq!(
            member(text, "alipay_trade_query_response"),
            Some(r#"{"a":1}"#)
        );
    }

    #[test]
    fn a_key_inside_a_string_is_not_a_member() {
        let text = r#"{"note":"\"alipay_trade_query_response\":{\"code\":\"10000\"}","sign":"x"}"#;
        assert_eq!(member(text, "alipay_trade_query_response"), None);
    }

    #[test]
    fn malformed_text_gives_none() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\":}",
            "{\"a\":{\"b\":1}",
            "{\"a\":\"unterminated}",
            "{\"a\":1} trailing",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{\"a\":{]}",
        ] {
            assert!(top_level_members(bad).is_none(), "{bad:?}");
        }
        assert_eq!(top_level_members("{}").map(|m| m.len()), Some(0));
    }
}
