//! Checks a loaded model's inputs and outputs against its recipe and picks them by shape.
//!
//! Names are not trusted (several exports have numeric output names) and old exports may list initializers as
//! inputs, so the image input is the one rank-4 float input shaped `[1, 3, S, S]`, and outputs are matched by
//! their dimensions. A dynamic dimension (`-1`) matches anything at load time; the real shapes are checked
//! again on every run.

use crate::model::{ModelSpec, Recipe};
use ort::session::Session;
use ort::value::{Outlet, TensorElementType, ValueType};

/// Which session inputs and outputs the detector uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IoLayout {
    /// Name of the image input.
    pub input_name: String,
    /// How the outputs are read.
    pub outputs: OutputLayout,
}

/// The outputs of a model, selected by shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OutputLayout {
    /// One `[1, rows, 5 + classes]` output.
    Yolox {
        /// Output name.
        name: String,
        /// Number of anchor rows.
        rows: usize,
        /// Values per row.
        cols: usize,
    },
    /// Per stride (8, 16, 32): class scores `[1, cells, classes]` and box distributions `[1, cells, 4 * bins]`.
    NanoDet {
        /// Names of the class-score outputs per stride.
        cls: [String; 3],
        /// Names of the box-distribution outputs per stride.
        reg: [String; 3],
        /// Grid cells per stride.
        cells: [usize; 3],
        /// Bins per box side in the distributions.
        bins: usize,
    },
}

/// Bins per box side of the NanoDet GFL head (`reg_max + 1`).
pub(crate) const NANODET_BINS: usize = 8;

/// Dimensions of a tensor outlet, or `None` when it is not a float tensor.
fn float_dims(outlet: &Outlet) -> Option<Vec<i64>> {
    match outlet.dtype() {
        ValueType::Tensor {
            ty: TensorElementType::Float32,
            shape,
            ..
        } => Some(shape.to_vec()),
        _ => None,
    }
}

/// `[1, 3, 416, 416]`-style text for error messages.
fn describe(outlets: &[Outlet]) -> String {
    outlets
        .iter()
        .map(|o| match o.dtype() {
            ValueType::Tensor { ty, shape, .. } => format!("`{}` {ty:?} {shape}", o.name()),
            other => format!("`{}` {other:?}", o.name()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// True when `dims` equals `want`, with `-1` in `dims` matching any value.
pub(crate) fn dims_match(dims: &[i64], want: &[usize]) -> bool {
    dims.len() == want.len()
        && dims
            .iter()
            .zip(want)
            .all(|(&d, &w)| d < 0 || d as usize == w)
}

/// Grid cells for each stride of a `size` input.
pub(crate) fn cells_per_stride(size: u32, strides: [u32; 3]) -> [usize; 3] {
    strides.map(|s| {
        let n = size.div_ceil(s) as usize;
        n * n
    })
}

/// Validates `session` against `spec` and returns the layout, or a description of the mismatch.
pub(crate) fn validate(session: &Session, spec: &ModelSpec) -> Result<IoLayout, String> {
    let size = spec.input_size as usize;
    let want_input = [1, 3, size, size];
    let images: Vec<&Outlet> = session
        .inputs()
        .iter()
        .filter(|o| float_dims(o).is_some_and(|d| dims_match(&d, &want_input)))
        .collect();
    let input_name = match images.as_slice() {
        [one] => one.name().to_string(),
        [] => {
            return Err(format!(
                "no float input shaped [1, 3, {size}, {size}] for recipe {}; inputs: {}",
                spec.recipe,
                describe(session.inputs())
            ));
        }
        _ => {
            return Err(format!(
                "several inputs could be the [1, 3, {size}, {size}] image: {}",
                describe(session.inputs())
            ));
        }
    };
    let outputs = match spec.recipe {
        Recipe::Yolox => yolox_outputs(session, spec)?,
        Recipe::NanoDet => nanodet_outputs(session, spec)?,
    };
    Ok(IoLayout {
        input_name,
        outputs,
    })
}

fn yolox_outputs(session: &Session, spec: &ModelSpec) -> Result<OutputLayout, String> {
    let rows: usize = cells_per_stride(spec.input_size, spec.recipe.strides())
        .iter()
        .sum();
    let cols = 5 + spec.classes.len();
    let found: Vec<&Outlet> = session
        .outputs()
        .iter()
        .filter(|o| float_dims(o).is_some_and(|d| dims_match(&d, &[1, rows, cols])))
        .collect();
    match found.as_slice() {
        [one] => Ok(OutputLayout::Yolox {
            name: one.name().to_string(),
            rows,
            cols,
        }),
        _ => Err(format!(
            "recipe yolox expects exactly one float output [1, {rows}, {cols}] \
             ({} anchors, 5 + {} classes); the model has: {}",
            rows,
            spec.classes.len(),
            describe(session.outputs())
        )),
    }
}

fn nanodet_outputs(session: &Session, spec: &ModelSpec) -> Result<OutputLayout, String> {
    let classes = spec.classes.len();
    let reg_width = 4 * NANODET_BINS;
    if classes == reg_width {
        return Err(format!(
            "recipe nanodet cannot tell {classes}-class score outputs from box outputs by shape"
        ));
    }
    let cells = cells_per_stride(spec.input_size, spec.recipe.strides());
    let pick = |n: usize, width: usize| -> Result<String, String> {
        let found: Vec<&Outlet> = session
            .outputs()
            .iter()
            .filter(|o| float_dims(o).is_some_and(|d| dims_match(&d, &[1, n, width])))
            .collect();
        match found.as_slice() {
            [one] => Ok(one.name().to_string()),
            _ => Err(format!(
                "recipe nanodet expects one float output [1, {n}, {width}], found {}; the model has: {}",
                found.len(),
                describe(session.outputs())
            )),
        }
    };
    let mut cls: [String; 3] = Default::default();
    let mut reg: [String; 3] = Default::default();
    for i in 0..3 {
        cls[i] = pick(cells[i], classes)?;
        reg[i] = pick(cells[i], reg_width)?;
    }
    Ok(OutputLayout::NanoDet {
        cls,
        reg,
        cells,
        bins: NANODET_BINS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_dims_match_anything_and_rank_must_agree() {
        assert!(dims_match(&[1, 3, 416, 416], &[1, 3, 416, 416]));
        assert!(dims_match(&[-1, 3, -1, -1], &[1, 3, 416, 416]));
        assert!(!dims_match(&[1, 3, 320, 320], &[1, 3, 416, 416]));
        assert!(!dims_match(&[1, 3, 416], &[1, 3, 416, 416]));
    }

    #[test]
    fn grid_sizes_match_the_readme() {
        assert_eq!(cells_per_stride(416, [8, 16, 32]), [2704, 676, 169]);
        assert_eq!(
            cells_per_stride(416, [8, 16, 32]).iter().sum::<usize>(),
            3549
        );
        assert_eq!(
            cells_per_stride(192, [8, 16, 32]).iter().sum::<usize>(),
            756
        );
    }
}
