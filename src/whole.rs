//! A whole number as JSON sends it. JSON, and the `integer` of the OpenAPI document, do not
//! tell `3` from `3.0`: both are the whole number 3 and are taken as such. `3.5`, or a number
//! beyond the 64-bit range, is not a whole number and is refused as a wrong type.

use serde::de::{self, Deserialize, Deserializer, Visitor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whole(pub i64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WholeVisitor;
        impl Visitor<'_> for WholeVisitor {
            type Value = Whole;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Whole, E> {
                Ok(Whole(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Whole, E> {
                i64::try_from(v)
                    .map(Whole)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Whole, E> {
                // i64::MIN is exactly -2^63; i64::MAX rounds up to 2^63 as a float.
                if v.fract() == 0.0 && v >= i64::MIN as f64 && v < i64::MAX as f64 {
                    Ok(Whole(v as i64))
                } else {
                    Err(E::invalid_type(de::Unexpected::Float(v), &self))
                }
            }
        }
        deserializer.deserialize_any(WholeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_number_with_a_zero_fraction_is_that_number() {
        let parse = |s: &str| serde_json::from_str::<Whole>(s).ok();
        assert_eq!(parse("3"), Some(Whole(3)));
        assert_eq!(parse("-3"), Some(Whole(-3)));
        assert_eq!(parse("229.0"), Some(Whole(229)));
        assert_eq!(parse("1e3"), Some(Whole(1000)));
        assert_eq!(parse("3.5"), None);
        assert_eq!(parse("1e300"), None);
        assert_eq!(parse("18446744073709551615"), None);
        assert_eq!(parse("\"3\""), None);
    }
}
