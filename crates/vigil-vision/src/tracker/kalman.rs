//! The constant-velocity Kalman filter of SORT / DeepSORT / ByteTrack on boxes in `(cx, cy, a, h)` form.
//!
//! State: centre x, centre y, aspect ratio `a = w / h`, height `h`, and their velocities. The noise is
//! proportional to the box height, with the weights of the original implementation (position 1/20,
//! velocity 1/160), so the filter behaves the same for small and large boxes.

// Small dense matrix arithmetic reads (and checks) best with explicit indices.
#![allow(clippy::needless_range_loop)]

use vigil_core::BBox;

/// State vector: `[cx, cy, a, h, vcx, vcy, va, vh]`.
pub type Mean = [f64; 8];
/// 8 x 8 state covariance.
pub type Covariance = [[f64; 8]; 8];

const STD_WEIGHT_POSITION: f64 = 1.0 / 20.0;
const STD_WEIGHT_VELOCITY: f64 = 1.0 / 160.0;

/// A box as the filter's measurement `[cx, cy, w / h, h]`.
pub fn to_xyah(b: &BBox) -> [f64; 4] {
    let w = f64::from(b.x2) - f64::from(b.x1);
    let h = f64::from(b.y2) - f64::from(b.y1);
    let h_safe = if h.abs() < 1e-6 { 1e-6 } else { h };
    [
        f64::from(b.x1) + w / 2.0,
        f64::from(b.y1) + h / 2.0,
        w / h_safe,
        h,
    ]
}

/// The box of a state.
pub fn to_bbox(mean: &Mean) -> BBox {
    let (cx, cy, a, h) = (mean[0], mean[1], mean[2], mean[3]);
    let w = a * h;
    BBox::new(
        (cx - w / 2.0) as f32,
        (cy - h / 2.0) as f32,
        (cx + w / 2.0) as f32,
        (cy + h / 2.0) as f32,
    )
}

/// A new track's state from its first measurement: the box, zero velocity, uncertainty from its height.
pub fn initiate(z: [f64; 4]) -> (Mean, Covariance) {
    let h = z[3];
    let mut mean = [0.0; 8];
    mean[..4].copy_from_slice(&z);
    let std = [
        2.0 * STD_WEIGHT_POSITION * h,
        2.0 * STD_WEIGHT_POSITION * h,
        1e-2,
        2.0 * STD_WEIGHT_POSITION * h,
        10.0 * STD_WEIGHT_VELOCITY * h,
        10.0 * STD_WEIGHT_VELOCITY * h,
        1e-5,
        10.0 * STD_WEIGHT_VELOCITY * h,
    ];
    let mut cov = [[0.0; 8]; 8];
    for i in 0..8 {
        cov[i][i] = std[i] * std[i];
    }
    (mean, cov)
}

/// One step ahead: `x = F x`, `P = F P Fᵀ + Q` with `F` adding each velocity to its position.
pub fn predict(mean: &mut Mean, cov: &mut Covariance) {
    let h = mean[3];
    let std = [
        STD_WEIGHT_POSITION * h,
        STD_WEIGHT_POSITION * h,
        1e-2,
        STD_WEIGHT_POSITION * h,
        STD_WEIGHT_VELOCITY * h,
        STD_WEIGHT_VELOCITY * h,
        1e-5,
        STD_WEIGHT_VELOCITY * h,
    ];
    for i in 0..4 {
        mean[i] += mean[i + 4];
    }
    // F P: row i (< 4) gains row i + 4.
    let mut fp = *cov;
    for i in 0..4 {
        for j in 0..8 {
            fp[i][j] += cov[i + 4][j];
        }
    }
    // (F P) Fᵀ: column j (< 4) gains column j + 4.
    let mut out = fp;
    for row in out.iter_mut() {
        for j in 0..4 {
            row[j] += row[j + 4];
        }
    }
    for i in 0..8 {
        out[i][i] += std[i] * std[i];
    }
    *cov = out;
}

/// Cholesky factor `L` of a symmetric positive-definite 4 x 4 matrix (`S = L Lᵀ`), or `None` when it is not
/// positive definite (degenerate boxes).
fn cholesky4(s: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut l = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..=i {
            let mut sum = s[i][j];
            for k in 0..j {
                sum -= l[i][k] * l[j][k];
            }
            if i == j {
                if sum <= 0.0 || !sum.is_finite() {
                    return None;
                }
                l[i][i] = sum.sqrt();
            } else {
                l[i][j] = sum / l[j][j];
            }
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b` for one right-hand side.
fn cholesky_solve(l: &[[f64; 4]; 4], b: [f64; 4]) -> [f64; 4] {
    let mut y = [0.0; 4];
    for i in 0..4 {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i][k] * y[k];
        }
        y[i] = s / l[i][i];
    }
    let mut x = [0.0; 4];
    for i in (0..4).rev() {
        let mut s = y[i];
        for k in i + 1..4 {
            s -= l[k][i] * x[k];
        }
        x[i] = s / l[i][i];
    }
    x
}

/// Corrects the state with a measurement `z = [cx, cy, a, h]`. Leaves the state unchanged when the
/// innovation covariance is degenerate (returns false).
pub fn update(mean: &mut Mean, cov: &mut Covariance, z: [f64; 4]) -> bool {
    let h = mean[3];
    let r = [
        STD_WEIGHT_POSITION * h,
        STD_WEIGHT_POSITION * h,
        1e-1,
        STD_WEIGHT_POSITION * h,
    ];
    // Projection: S = H P Hᵀ + R (the top-left 4 x 4 block), predicted measurement = first 4 states.
    let mut s = [[0.0; 4]; 4];
    for i in 0..4 {
        for j in 0..4 {
            s[i][j] = cov[i][j];
        }
        s[i][i] += r[i] * r[i];
    }
    let Some(l) = cholesky4(&s) else {
        return false;
    };
    // Kalman gain K = P Hᵀ S⁻¹ (8 x 4). S is symmetric, so row k of K solves S K[k]ᵀ = P[k][..4]ᵀ.
    let mut gain = [[0.0; 4]; 8];
    for k in 0..8 {
        gain[k] = cholesky_solve(&l, [cov[k][0], cov[k][1], cov[k][2], cov[k][3]]);
    }
    let innovation = [
        z[0] - mean[0],
        z[1] - mean[1],
        z[2] - mean[2],
        z[3] - mean[3],
    ];
    for k in 0..8 {
        mean[k] += (0..4).map(|j| gain[k][j] * innovation[j]).sum::<f64>();
    }
    // P = P - K S Kᵀ.
    let mut ks = [[0.0; 4]; 8];
    for k in 0..8 {
        for j in 0..4 {
            ks[k][j] = (0..4).map(|m| gain[k][m] * s[m][j]).sum();
        }
    }
    for a in 0..8 {
        for b in 0..8 {
            cov[a][b] -= (0..4).map(|j| ks[a][j] * gain[b][j]).sum::<f64>();
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_conversions_round_trip() {
        let b = BBox::new(10.0, 20.0, 50.0, 120.0);
        let z = to_xyah(&b);
        assert_eq!(z, [30.0, 70.0, 0.4, 100.0]);
        let (mean, _) = initiate(z);
        assert_eq!(to_bbox(&mean), b);
    }

    #[test]
    fn learns_constant_velocity() {
        // A box moving 5 px per frame to the right: after a few updates the prediction leads it.
        let mut b = BBox::new(0.0, 0.0, 40.0, 100.0);
        let (mut mean, mut cov) = initiate(to_xyah(&b));
        for _ in 0..20 {
            b = b.translate(5.0, 0.0);
            predict(&mut mean, &mut cov);
            assert!(update(&mut mean, &mut cov, to_xyah(&b)));
        }
        assert!((mean[4] - 5.0).abs() < 0.3, "vx = {}", mean[4]);
        predict(&mut mean, &mut cov);
        let predicted = to_bbox(&mean);
        assert!(predicted.iou(&b.translate(5.0, 0.0)) > 0.95);
        // Covariance stays symmetric and positive on the diagonal.
        for i in 0..8 {
            assert!(cov[i][i] > 0.0);
            for j in 0..8 {
                assert!((cov[i][j] - cov[j][i]).abs() < 1e-6 * (1.0 + cov[i][j].abs()));
            }
        }
    }

    #[test]
    fn degenerate_measurement_is_refused_not_nan() {
        let (mut mean, mut cov) = initiate([0.0, 0.0, 1.0, 0.0]);
        assert!(!update(&mut mean, &mut cov, [1.0, 1.0, 1.0, 0.0]));
        assert!(mean.iter().all(|v| v.is_finite()));
    }
}
