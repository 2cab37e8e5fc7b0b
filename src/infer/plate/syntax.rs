//! What a Chinese plate number may look like (GA 36): a province character, a letter
//! (the issuing authority), then 5 letters or digits (blue, yellow, white and black
//! plates, 7 characters) or 6 (green new-energy plates, 8 characters). Letters I and O
//! are never used. Special plates end in 学 (learner), 警 (police), 挂 (trailer), 港 /
//! 澳 (Hong Kong / Macau) or 领 (consulate). Embassy plates (使 and digits only) do not
//! fit the layout and are not read.
//!
//! The recogniser's decoder only emits strings of this shape (see [`super::ctc`]), so a
//! read can never be an impossible plate, and plate search on the page normalises
//! what a technician types the same way.

/// Province characters that open a plate.
pub const PROVINCES: &str = "京沪津渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新";
/// Letters used on plates (no I, no O).
pub const LETTERS: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ";
pub const DIGITS: &str = "0123456789";
/// Characters a 7-character plate may end with besides letters and digits.
pub const SUFFIXES: &str = "学警挂港澳领";

/// The symbols allowed at each position of a plate of `len` characters (7 or 8).
pub fn template(len: usize) -> Vec<Vec<char>> {
    let prov: Vec<char> = PROVINCES.chars().collect();
    let letters: Vec<char> = LETTERS.chars().collect();
    let alnum: Vec<char> = LETTERS.chars().chain(DIGITS.chars()).collect();
    let mut t = vec![prov, letters];
    for i in 2..len {
        if len == 7 && i == 6 {
            t.push(alnum.iter().copied().chain(SUFFIXES.chars()).collect());
        } else {
            t.push(alnum.clone());
        }
    }
    t
}

/// Whether `text` is a well-formed plate number.
pub fn is_plate(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() != 7 && chars.len() != 8 {
        return false;
    }
    template(chars.len())
        .iter()
        .zip(&chars)
        .all(|(allowed, c)| allowed.contains(c))
}

/// A plate number as a technician may type it for a search: spaces, dots and the
/// middle dot removed, letters upper-cased. `None` when what remains holds a
/// character no plate has (so a search string can never carry SQL wildcards).
pub fn normalise_query(s: &str) -> Option<String> {
    let out: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '·' | '.' | '-' | '•'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ok = !out.is_empty()
        && out.chars().count() <= 8
        && out.chars().all(|c| {
            PROVINCES.contains(c)
                || LETTERS.contains(c)
                || DIGITS.contains(c)
                || SUFFIXES.contains(c)
        });
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plate_shapes() {
        assert!(is_plate("粤G12345"));
        assert!(is_plate("粤GD12345"));
        assert!(is_plate("京A1234学"));
        assert!(!is_plate("粤G1234"), "too short");
        assert!(!is_plate("粤GO1234"), "no letter O");
        assert!(!is_plate("AG12345"), "no province");
        assert!(!is_plate("粤112345"), "second must be a letter");
    }

    #[test]
    fn search_strings_are_normalised_or_refused() {
        assert_eq!(normalise_query("粤g·123 45").as_deref(), Some("粤G12345"));
        assert_eq!(normalise_query("g12").as_deref(), Some("G12"));
        assert_eq!(normalise_query("%"), None);
        assert_eq!(normalise_query("_1"), None);
        assert_eq!(normalise_query(""), None);
        assert_eq!(normalise_query("粤G123456789"), None);
    }
}
