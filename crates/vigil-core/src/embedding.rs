//! Embeddings (face templates, people's appearance vectors): unit vectors compared by cosine, kept on disk
//! as little-endian `f32`s. One home for what the face models, re-identification, the watchlists and the
//! event store all do with them.

/// Cosine similarity of two unit vectors (their dot product, over the shorter length), in -1..1.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `v` scaled to unit length; `None` when its length is zero or not finite (a model gone wrong).
pub fn unit(v: &[f32]) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm.is_finite() && norm > f32::EPSILON).then(|| v.iter().map(|x| x / norm).collect())
}

/// The direction of a sum of unit vectors (their mean, renormalised); a zero sum stays zero.
pub fn mean_direction(sum: &[f32]) -> Vec<f32> {
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    sum.iter().map(|x| x / norm).collect()
}

/// `v` as little-endian bytes.
pub fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The `f32`s of little-endian `bytes` (a trailing partial value is ignored).
pub fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_vectors_compare_by_cosine_and_round_trip_as_bytes() {
        let a = unit(&[3.0, 4.0]).unwrap();
        assert_eq!(a, vec![0.6, 0.8]);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&a, &[-0.6, -0.8]), -1.0);
        assert!(unit(&[0.0, 0.0]).is_none());
        assert!(unit(&[f32::NAN, 1.0]).is_none());
        assert_eq!(mean_direction(&[0.0, 0.0]), vec![0.0, 0.0]);
        assert_eq!(mean_direction(&[0.6, 0.8, 0.0]), vec![0.6, 0.8, 0.0]);
        assert_eq!(from_bytes(&to_bytes(&a)), a);
        assert_eq!(from_bytes(&[0, 0, 128, 63, 1]), vec![1.0]);
    }
}
