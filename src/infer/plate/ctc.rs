//! Decoding a recogniser's per-step probabilities into a plate number, constrained to
//! the plate layout ([`super::syntax::template`]).
//!
//! Why not plain greedy CTC decoding: on small plates the recogniser often gives the
//! province character (the most complex glyph) less probability than a blank in every
//! frame, so greedy decoding drops it, or it emits a stray extra letter at the frame
//! border. A plate has a fixed shape, so the decoder searches the single most probable
//! CTC path whose labels form a plate of exactly the asked length (Viterbi over the
//! CTC topology: blank / label states per position, a label repeated only across a
//! blank), with each position limited to the symbols the layout allows there. A
//! general recogniser (thousands of symbols) is thereby limited to the ~70 plate
//! symbols as well.
//!
//! Cost: steps x positions x allowed symbols, a few hundred thousand operations for a
//! plate: negligible next to the network.

use super::syntax;

/// A decoded plate string with its confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub text: String,
    /// Mean over characters of the best probability the character had on the frames
    /// the path gave it (0..1).
    pub confidence: f32,
    /// The weakest character's probability.
    pub min_char: f32,
    /// Log probability of the whole path (comparable between lengths).
    pub log_prob: f64,
}

/// Class index -> symbol of a recogniser's output (index 0 is the CTC blank).
#[derive(Debug, Clone)]
pub struct Alphabet {
    /// Per output class: the plate symbol it stands for, if any.
    symbols: Vec<Option<char>>,
    /// Per plate length (7, 8): per position, the class indices allowed there.
    allowed: [Vec<Vec<usize>>; 2],
}

impl Alphabet {
    /// `names[i]` is the symbol of output class `i + 1`; names that are not one plate
    /// character are never emitted.
    pub fn new(names: &[String]) -> Self {
        let mut symbols = vec![None];
        symbols.extend(names.iter().map(|n| {
            let mut it = n.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => Some(c),
                _ => None,
            }
        }));
        let allowed_for = |len: usize| -> Vec<Vec<usize>> {
            syntax::template(len)
                .into_iter()
                .map(|chars| {
                    symbols
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| s.is_some_and(|c| chars.contains(&c)))
                        .map(|(i, _)| i)
                        .collect()
                })
                .collect()
        };
        let allowed = [allowed_for(7), allowed_for(8)];
        Self { symbols, allowed }
    }

    /// Whether every plate position has at least one symbol (the recogniser can read
    /// plates at all).
    pub fn covers_plates(&self) -> bool {
        self.allowed.iter().all(|a| a.iter().all(|p| !p.is_empty()))
    }

    /// Output classes the recogniser has (blank included).
    pub fn classes(&self) -> usize {
        self.symbols.len()
    }
}

const NEG: f64 = f64::NEG_INFINITY;

/// Back pointer of a label state: where the best path came from.
#[derive(Debug, Clone, Copy)]
enum From {
    /// The same label state one step earlier.
    Stay,
    /// The blank before this position.
    Blank,
    /// The previous position's label (symbol index within that position).
    Prev(usize),
}

/// Back pointer of a blank state.
#[derive(Debug, Clone, Copy)]
enum BlankFrom {
    Stay,
    /// The label of the previous position (symbol index within it).
    Label(usize),
}

/// The best plate of exactly `len` (7 or 8) characters in `probs` (`steps` rows of
/// `classes` probabilities); `None` when the steps are too few for the length.
pub fn decode(probs: &[f32], classes: usize, alphabet: &Alphabet, len: usize) -> Option<Decoded> {
    let allowed = match len {
        7 => &alphabet.allowed[0],
        8 => &alphabet.allowed[1],
        _ => return None,
    };
    if classes == 0 || !probs.len().is_multiple_of(classes) || allowed.iter().any(Vec::is_empty) {
        return None;
    }
    let steps = probs.len() / classes;
    if steps < len {
        return None;
    }
    let lp = |t: usize, c: usize| f64::from(probs[t * classes + c].max(1e-12)).ln();
    // blank[k]: after k labels; label[k][j]: at position k showing allowed[k][j].
    let mut blank = vec![NEG; len + 1];
    let mut label: Vec<Vec<f64>> = allowed.iter().map(|a| vec![NEG; a.len()]).collect();
    blank[0] = lp(0, 0);
    for (j, &c) in allowed[0].iter().enumerate() {
        label[0][j] = lp(0, c);
    }
    let mut blank_bp: Vec<Vec<BlankFrom>> = Vec::with_capacity(steps);
    let mut label_bp: Vec<Vec<Vec<From>>> = Vec::with_capacity(steps);
    for t in 1..steps {
        let mut nb = vec![NEG; len + 1];
        let mut nbp = vec![BlankFrom::Stay; len + 1];
        let best_of = |v: &[f64]| {
            v.iter().enumerate().fold(
                (NEG, 0usize),
                |acc, (j, &x)| if x > acc.0 { (x, j) } else { acc },
            )
        };
        for k in 0..=len {
            let stay = blank[k];
            let (from_label, j) = if k > 0 {
                best_of(&label[k - 1])
            } else {
                (NEG, 0)
            };
            let (v, bp) = if stay >= from_label {
                (stay, BlankFrom::Stay)
            } else {
                (from_label, BlankFrom::Label(j))
            };
            nb[k] = v + lp(t, 0);
            nbp[k] = bp;
        }
        let mut nl: Vec<Vec<f64>> = allowed.iter().map(|a| vec![NEG; a.len()]).collect();
        let mut lbp: Vec<Vec<From>> = allowed.iter().map(|a| vec![From::Stay; a.len()]).collect();
        for k in 0..len {
            // The two best labels of the previous position, so "a different symbol"
            // is found without a scan per symbol.
            let (mut p1, mut p2) = ((NEG, usize::MAX), (NEG, usize::MAX));
            if k > 0 {
                for (j, &x) in label[k - 1].iter().enumerate() {
                    if x > p1.0 {
                        p2 = p1;
                        p1 = (x, j);
                    } else if x > p2.0 {
                        p2 = (x, j);
                    }
                }
            }
            for (j, &c) in allowed[k].iter().enumerate() {
                let stay = label[k][j];
                let from_blank = blank[k];
                // Moving straight from the previous label needs a different symbol.
                let prev = if k == 0 {
                    (NEG, usize::MAX)
                } else if p1.1 != usize::MAX && allowed[k - 1][p1.1] == c {
                    p2
                } else {
                    p1
                };
                let (v, bp) = if stay >= from_blank && stay >= prev.0 {
                    (stay, From::Stay)
                } else if from_blank >= prev.0 {
                    (from_blank, From::Blank)
                } else {
                    (prev.0, From::Prev(prev.1))
                };
                nl[k][j] = v + lp(t, c);
                lbp[k][j] = bp;
            }
        }
        blank = nb;
        label = nl;
        blank_bp.push(nbp);
        label_bp.push(lbp);
    }
    // The path ends in the blank after the last label or on the last label itself.
    let (end_label, end_j) = label[len - 1].iter().enumerate().fold(
        (NEG, 0usize),
        |acc, (j, &x)| if x > acc.0 { (x, j) } else { acc },
    );
    let end_blank = blank[len];
    let log_prob = end_label.max(end_blank);
    if !log_prob.is_finite() {
        return None;
    }
    // Walk back, noting each position's symbol and its best frame probability.
    #[derive(Clone, Copy)]
    enum State {
        Blank(usize),
        Label(usize, usize),
    }
    let mut state = if end_blank >= end_label {
        State::Blank(len)
    } else {
        State::Label(len - 1, end_j)
    };
    let mut chosen: Vec<Option<(usize, f32)>> = vec![None; len];
    for t in (0..steps).rev() {
        if let State::Label(k, j) = state {
            let c = allowed[k][j];
            let p = probs[t * classes + c];
            let e = chosen[k].get_or_insert((c, 0.0));
            e.1 = e.1.max(p);
        }
        if t == 0 {
            break;
        }
        state = match state {
            State::Blank(k) => match blank_bp[t - 1][k] {
                BlankFrom::Stay => State::Blank(k),
                BlankFrom::Label(j) => State::Label(k - 1, j),
            },
            State::Label(k, j) => match label_bp[t - 1][k][j] {
                From::Stay => State::Label(k, j),
                From::Blank => State::Blank(k),
                From::Prev(pj) => State::Label(k - 1, pj),
            },
        };
    }
    let mut text = String::new();
    let (mut sum, mut min) = (0.0f32, 1.0f32);
    for c in &chosen {
        let (class, p) = (*c)?;
        text.push(alphabet.symbols[class]?);
        sum += p;
        min = min.min(p);
    }
    Some(Decoded {
        text,
        confidence: sum / len as f32,
        min_char: min,
        log_prob,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alphabet() -> (Alphabet, Vec<String>) {
        let names: Vec<String> = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ粤皖京"
            .chars()
            .map(String::from)
            .collect();
        (Alphabet::new(&names), names)
    }

    /// Probabilities that spell `frames` (one symbol per step, '-' = blank), each
    /// frame's symbol at `p` and the rest spread evenly.
    fn probs(names: &[String], frames: &str, p: f32) -> (Vec<f32>, usize) {
        let classes = names.len() + 1;
        let rest = (1.0 - p) / (classes - 1) as f32;
        let mut out = Vec::new();
        for f in frames.chars() {
            let idx = if f == '-' {
                0
            } else {
                names.iter().position(|n| n.starts_with(f)).unwrap() + 1
            };
            out.extend((0..classes).map(|c| if c == idx { p } else { rest }));
        }
        (out, classes)
    }

    #[test]
    fn a_clear_plate_decodes_exactly_with_repeats_across_blanks() {
        let (a, names) = alphabet();
        let (p, c) = probs(&names, "-粤粤-G-1-2-3-3-3-", 0.9);
        let d = decode(&p, c, &a, 7).unwrap();
        assert_eq!(d.text, "粤G12333");
        assert!(d.confidence > 0.85 && d.min_char > 0.85);
    }

    #[test]
    fn a_dropped_province_is_recovered_from_its_weaker_frames() {
        let (a, names) = alphabet();
        // Frame 1 leans blank, but carries the province more than any other symbol.
        let (mut p, c) = probs(&names, "--G-1-2-3-4-5-", 0.9);
        let prov = names.iter().position(|n| n == "粤").unwrap() + 1;
        p[c + prov] = 0.3;
        p[c] = 0.6;
        let greedy_would_drop = p[c] > p[c + prov];
        assert!(greedy_would_drop);
        let d = decode(&p, c, &a, 7).unwrap();
        assert_eq!(d.text, "粤G12345");
        assert!(d.min_char < 0.5, "the weak province shows in min_char");
    }

    #[test]
    fn the_layout_forbids_impossible_plates_and_short_inputs() {
        let (a, names) = alphabet();
        // A digit where the authority letter must be: the decoder never emits it.
        let (p, c) = probs(&names, "-粤-1-1-2-3-4-5-", 0.9);
        let d = decode(&p, c, &a, 7).unwrap();
        assert!(
            d.text.chars().nth(1).unwrap().is_ascii_uppercase(),
            "{}",
            d.text
        );
        let (p, c) = probs(&names, "粤G1", 0.9);
        assert!(decode(&p, c, &a, 7).is_none());
    }
}
