//! GPT-2's byte-to-character map: how byte-level BPE files spell raw bytes.
//!
//! `tokenizer.json` stores tokens as strings, but a byte-level token is a
//! byte sequence that need not be valid UTF-8. GPT-2 maps each of the 256
//! bytes to a printable character: printable Latin-1 bytes map to
//! themselves, the other 68 (controls, space, ...) to U+0100 onwards, in
//! byte order.

use std::sync::OnceLock;

fn is_printable_latin1(byte: u8) -> bool {
    matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

struct Maps {
    to_char: [char; 256],
    /// Indexed by code point, for the 0..324 range the map uses.
    to_byte: [Option<u8>; 324],
}

fn maps() -> &'static Maps {
    static MAPS: OnceLock<Maps> = OnceLock::new();
    MAPS.get_or_init(|| {
        let mut to_char = ['\0'; 256];
        let mut to_byte = [None; 324];
        let mut next = 256u32;
        for byte in 0..=255u8 {
            let code = if is_printable_latin1(byte) {
                u32::from(byte)
            } else {
                next += 1;
                next - 1
            };
            to_char[usize::from(byte)] = char::from_u32(code).expect("below U+0144");
            to_byte[code as usize] = Some(byte);
        }
        Maps { to_char, to_byte }
    })
}

/// The character that spells `byte`.
pub fn byte_to_char(byte: u8) -> char {
    maps().to_char[usize::from(byte)]
}

/// The byte a character spells, if it is one of the 256 map characters.
pub fn char_to_byte(c: char) -> Option<u8> {
    maps().to_byte.get(c as usize).copied().flatten()
}

/// Spells a byte sequence as a token string.
pub fn encode_token(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| byte_to_char(b)).collect()
}

/// The bytes a token string spells, or `None` if some character is not a
/// map character (such a token is stored as its own UTF-8, e.g. added
/// tokens like `<|endoftext|>` whose characters all map to themselves
/// anyway).
pub fn decode_token(token: &str) -> Option<Vec<u8>> {
    token.chars().map(char_to_byte).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_a_bijection_and_matches_gpt2() {
        for byte in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(byte)), Some(byte));
        }
        assert_eq!(byte_to_char(b' '), '\u{120}'); // "Ġ"
        assert_eq!(byte_to_char(b'\n'), '\u{10A}'); // "Ċ"
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(byte_to_char(0xAD), '\u{143}');
        assert_eq!(decode_token("Ġthe"), Some(b" the".to_vec()));
        assert_eq!(decode_token("a b"), None);
        assert_eq!(encode_token(&[0xE2, 0x82, 0xAC]), "âĤ¬");
    }
}
