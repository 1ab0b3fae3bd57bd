//! Counting people in a crowd: the detector run on the whole frame and on a grid of overlapping tiles (so a
//! person far away gets the pixels a detector needs), the person detections above a score counted.
//!
//! Counting detections rather than confirmed tracks matters in crowds: a tracker confirms a person after
//! several frames and loses them behind others, while a count needs every head now. The grid is chosen per
//! scene ([`grid_for_scene`]) from the sizes of the people a first full-and-2x2 look finds: a scene of small
//! people gets more, smaller tiles; a scene of big people needs none (each tile is one more model run).

use crate::detector::{Detections, Detector, DetectorError};
use crate::model::ModelSpec;
use crate::regions::tiled_regions;
use serde::Serialize;
use vigil_core::{BBox, BgrImage, ClassId, Detection};

/// Overlap of neighbouring tiles, as a share of a tile's side: enough that a person cut by one tile's edge
/// is whole in the next.
pub const TILE_OVERLAP: f32 = 0.2;

/// Person height (pixels at the model's input) the grid aims to give the scene's typical person: the
/// detector finds people from about 20 px; its recall is high from about 40.
pub const TARGET_PERSON_PX: f32 = 64.0;

/// Most tiles per frame (each is a model run of ~17 ms on one core for YOLOX-nano at 416: with the whole
/// frame, 6 runs fit the 100 ms a counted frame may cost).
pub const MAX_TILES: u32 = 5;

/// How [`grid_for_scene`] sizes the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridPolicy {
    /// Height the scene's typical person should reach at the model's input (pixels).
    pub target_px: f32,
    /// Most tiles.
    pub max_tiles: u32,
}

impl Default for GridPolicy {
    fn default() -> Self {
        GridPolicy {
            target_px: TARGET_PERSON_PX,
            max_tiles: MAX_TILES,
        }
    }
}

/// Tiles across and down (1x1: the whole frame only), and whether the whole frame is looked at too (for
/// people so close that every tile cuts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Grid {
    /// Tiles across.
    pub cols: u32,
    /// Tiles down.
    pub rows: u32,
    /// The whole frame as well as the tiles.
    pub full: bool,
}

impl Grid {
    /// The whole frame only.
    pub const FULL: Grid = Grid {
        cols: 1,
        rows: 1,
        full: true,
    };

    /// `cols` x `rows` tiles, without the whole frame.
    pub const fn tiles(cols: u32, rows: u32) -> Grid {
        Grid {
            cols,
            rows,
            full: false,
        }
    }

    /// Model runs per frame.
    pub fn runs(self) -> u32 {
        if self.cols * self.rows <= 1 {
            1
        } else {
            u32::from(self.full) + self.cols * self.rows
        }
    }
}

impl std::fmt::Display for Grid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.cols, self.rows)?;
        if self.full && self.runs() > 1 {
            f.write_str("+full")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Grid {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("grid {s:?}: expected COLSxROWS or COLSxROWS+full, e.g. 3x2");
        let (tiles, full) = match s.strip_suffix("+full") {
            Some(t) => (t, true),
            None => (s, false),
        };
        let (c, r) = tiles.split_once(['x', 'X']).ok_or_else(bad)?;
        let cols: u32 = c.trim().parse().map_err(|_| bad())?;
        let rows: u32 = r.trim().parse().map_err(|_| bad())?;
        if !(1..=8).contains(&cols) || !(1..=8).contains(&rows) {
            return Err(format!("grid {s:?}: 1 to 8 tiles each way"));
        }
        Ok(Grid {
            cols,
            rows,
            full: full || cols * rows == 1,
        })
    }
}

/// The regions of `grid` on a `w` x `h` frame: the whole frame when the grid has it, then `cols` x `rows`
/// tiles overlapping by `overlap` of a tile's side (just the whole frame for 1x1).
pub fn grid_regions(w: u32, h: u32, grid: Grid, overlap: f32) -> Vec<BBox> {
    let (fw, fh) = (w as f32, h as f32);
    let whole = BBox::new(0.0, 0.0, fw, fh);
    if grid.cols * grid.rows <= 1 {
        return vec![whole];
    }
    let mut regions = if grid.full { vec![whole] } else { Vec::new() };
    let ov = overlap.clamp(0.0, 0.9);
    let side = |len: f32, n: u32| len / (1.0 + (n as f32 - 1.0) * (1.0 - ov));
    let (tw, th) = (side(fw, grid.cols), side(fh, grid.rows));
    for r in 0..grid.rows {
        for c in 0..grid.cols {
            let x = if grid.cols == 1 {
                0.0
            } else {
                (fw - tw) * c as f32 / (grid.cols - 1) as f32
            };
            let y = if grid.rows == 1 {
                0.0
            } else {
                (fh - th) * r as f32 / (grid.rows - 1) as f32
            };
            regions.push(BBox::new(x, y, x + tw, y + th));
        }
    }
    regions
}

/// The grid for a scene whose people are `heights` pixels tall (in frame pixels, from a first look), on a
/// `w` x `h` frame, for a model taking `model_side` pixels: tiles small enough that the scene's typical
/// (lower-quartile: the far ones) person reaches `policy.target_px` at the model's input, at most
/// `policy.max_tiles` of them, with the whole frame too (for the near ones). No people seen: 2x2.
pub fn grid_for_scene(
    heights: &[f32],
    w: u32,
    h: u32,
    model_side: u32,
    policy: GridPolicy,
) -> Grid {
    let mut hs: Vec<f32> = heights
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if hs.is_empty() {
        return Grid {
            full: true,
            ..Grid::tiles(2, 2)
        };
    }
    hs.sort_by(f32::total_cmp);
    let typical = hs[hs.len() / 4];
    // A tile of side s is scaled by model_side / s: the typical person reaches the target when
    // s <= model_side * typical / target.
    let max_side = model_side as f32 * typical / policy.target_px;
    if max_side >= w.max(h) as f32 {
        return Grid::FULL;
    }
    // Every grid within the budget, with its tiles' longer side.
    let mut grids: Vec<(u32, f32, Grid)> = Vec::new();
    for rows in 1..=policy.max_tiles {
        for cols in 1..=policy.max_tiles / rows {
            if cols * rows < 2 {
                continue;
            }
            let g = Grid {
                full: true,
                ..Grid::tiles(cols, rows)
            };
            let tiles = grid_regions(w, h, g, TILE_OVERLAP);
            grids.push((cols * rows, tiles[1].width().max(tiles[1].height()), g));
        }
    }
    // The fewest tiles that reach the target (the smaller tiles among equals), else the smallest tiles
    // the budget allows (the fewer among equals).
    let reaching = grids
        .iter()
        .filter(|g| g.1 <= max_side)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let finest = grids
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    reaching.or(finest).map_or(Grid::FULL, |g| g.2)
}

/// Lowest person score counted by default: chosen by leave-one-sequence-out cross-validation on the
/// MOT17-mini frames with the default grid (every fold chose 0.2; `vigil eval count`).
pub const COUNT_SCORE: f32 = 0.2;

/// Lowest score of the person detections whose sizes choose the grid (a first look, before the count's
/// own threshold is known to fit the scene).
pub const CALIBRATION_SCORE: f32 = 0.3;

/// Something that runs the detector on regions of a frame: a [`Detector`] of its own (`vigil count`), or
/// a camera's share of the detectors `vigil run` shares between cameras (the pipeline's camera slot).
pub trait RegionDetector {
    /// The model it runs (its classes and input size).
    fn model(&self) -> &ModelSpec;

    /// Detections in `regions` of `image` (frame pixels), merged across regions; a single region
    /// covering the whole frame is one whole-frame run.
    fn detect_in(
        &mut self,
        image: &BgrImage,
        regions: &[BBox],
    ) -> Result<Detections, DetectorError>;
}

/// True when `regions` is the whole of a `w` x `h` frame.
pub fn is_whole_frame(regions: &[BBox], w: u32, h: u32) -> bool {
    regions.len() == 1 && regions[0] == BBox::new(0.0, 0.0, w as f32, h as f32)
}

impl RegionDetector for Detector {
    fn model(&self) -> &ModelSpec {
        self.spec()
    }

    fn detect_in(
        &mut self,
        image: &BgrImage,
        regions: &[BBox],
    ) -> Result<Detections, DetectorError> {
        if is_whole_frame(regions, image.width(), image.height()) {
            self.detect(image)
        } else {
            self.detect_regions(image, regions)
        }
    }
}

/// The grid for the scene of `image`: a first look with the whole frame and 2x2 tiles, the people found
/// (scoring [`CALIBRATION_SCORE`] or more) sized, [`grid_for_scene`]. Also returns the model runs spent.
pub fn choose_grid<D: RegionDetector + ?Sized>(
    detector: &mut D,
    person: ClassId,
    image: &BgrImage,
    policy: GridPolicy,
) -> Result<(Grid, u32), DetectorError> {
    let (w, h) = (image.width(), image.height());
    let regions = tiled_regions(w, h, TILE_OVERLAP);
    let first = detector.detect_in(image, &regions)?;
    let heights: Vec<f32> = first
        .detections
        .iter()
        .filter(|d| d.class_id == person && d.score >= CALIBRATION_SCORE)
        .map(|d| d.bbox.height())
        .collect();
    let grid = grid_for_scene(&heights, w, h, detector.model().input_size, policy);
    tracing::info!(%grid, people = heights.len(), "counting grid chosen for the scene");
    Ok((grid, regions.len() as u32))
}

/// Person detections on `image` with `grid` (whatever their score), and the model runs spent.
pub fn detect_people<D: RegionDetector + ?Sized>(
    detector: &mut D,
    person: ClassId,
    image: &BgrImage,
    grid: Grid,
) -> Result<(Vec<Detection>, u32), DetectorError> {
    let regions = grid_regions(image.width(), image.height(), grid, TILE_OVERLAP);
    let out = detector.detect_in(image, &regions)?;
    let people = out
        .detections
        .into_iter()
        .filter(|d| d.class_id == person)
        .collect();
    Ok((people, regions.len() as u32))
}

/// People counted in one frame.
#[derive(Debug, Clone)]
pub struct FrameCount {
    /// The person detections counted (score at least the threshold).
    pub people: Vec<Detection>,
    /// Model runs spent.
    pub runs: u32,
}

/// Counts people in frames with whatever detector it is handed: keeps the grid (chosen on the first
/// frame when automatic), the score threshold and the grid policy.
#[derive(Debug, Clone)]
pub struct CrowdCounter {
    person: ClassId,
    /// The grid in use (`None` until the first frame chose it, when automatic).
    grid: Option<Grid>,
    /// Lowest person score counted.
    score: f32,
    /// How an automatic grid is sized.
    policy: GridPolicy,
}

impl CrowdCounter {
    /// A counter for a model with `spec` (which must know a `person` class), counting person detections
    /// scoring at least `score`, on `grid` (`None`: chosen from the first frame with
    /// [`grid_for_scene`] and `policy`). `None` when the model has no person class.
    pub fn new(
        spec: &ModelSpec,
        grid: Option<Grid>,
        score: f32,
        policy: GridPolicy,
    ) -> Option<Self> {
        Some(CrowdCounter {
            person: spec.class_id("person")?,
            grid,
            score,
            policy,
        })
    }

    /// The grid in use (after the first frame when automatic).
    pub fn grid(&self) -> Option<Grid> {
        self.grid
    }

    /// Counts the people in `image` with `detector` (of the model the counter was made for).
    pub fn count<D: RegionDetector + ?Sized>(
        &mut self,
        detector: &mut D,
        image: &BgrImage,
    ) -> Result<FrameCount, DetectorError> {
        let mut runs = 0;
        let grid = match self.grid {
            Some(g) => g,
            None => {
                let (g, first) = choose_grid(detector, self.person, image, self.policy)?;
                runs += first;
                self.grid = Some(g);
                g
            }
        };
        let (people, n) = detect_people(detector, self.person, image, grid)?;
        let people = people
            .into_iter()
            .filter(|d| d.score >= self.score)
            .collect();
        Ok(FrameCount {
            people,
            runs: runs + n,
        })
    }
}

/// Counts people in frames with a detector of its own.
pub struct PeopleCounter {
    detector: Detector,
    counter: CrowdCounter,
}

impl PeopleCounter {
    /// A counter over `detector` (which must know a `person` class), counting person detections scoring
    /// at least `score`, on `grid` (`None`: chosen from the first frame with [`grid_for_scene`] and
    /// `policy`).
    pub fn new(
        detector: Detector,
        grid: Option<Grid>,
        score: f32,
        policy: GridPolicy,
    ) -> Result<Self, DetectorError> {
        let counter = CrowdCounter::new(detector.spec(), grid, score, policy).ok_or_else(|| {
            DetectorError::Mismatch {
                path: detector.path().to_path_buf(),
                model: detector.spec().name.clone(),
                mismatch: "no person class: it cannot count people".into(),
            }
        })?;
        Ok(PeopleCounter { detector, counter })
    }

    /// The grid in use (after the first frame when automatic).
    pub fn grid(&self) -> Option<Grid> {
        self.counter.grid()
    }

    /// Counts the people in `image`.
    pub fn count(&mut self, image: &BgrImage) -> Result<FrameCount, DetectorError> {
        self.counter.count(&mut self.detector, image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_tiles_cover_the_frame_with_overlap() {
        let r = grid_regions(1920, 1080, "3x2+full".parse().unwrap(), 0.2);
        assert_eq!(r.len(), 7);
        assert_eq!(r[0], BBox::new(0.0, 0.0, 1920.0, 1080.0));
        let t = &r[1..];
        assert_eq!(t[0].x1, 0.0);
        assert!((t[2].x2 - 1920.0).abs() < 0.01 && (t[5].y2 - 1080.0).abs() < 0.01);
        // Neighbours overlap by a fifth of a tile.
        let overlap = t[0].x2 - t[1].x1;
        assert!((overlap - 0.2 * t[0].width()).abs() < 0.5, "{overlap}");
        assert_eq!(grid_regions(640, 480, Grid::FULL, 0.2).len(), 1);
        assert_eq!(grid_regions(640, 480, Grid::tiles(2, 2), 0.2).len(), 4);
    }

    #[test]
    fn small_people_get_finer_grids_big_people_none() {
        // Far, small people (40 px in a 1080p frame) need tiles; big ones (300 px) do not.
        let p = GridPolicy::default();
        let small = grid_for_scene(&[40.0; 10], 1920, 1080, 416, p);
        let big = grid_for_scene(&[300.0; 10], 1920, 1080, 416, p);
        assert!(small.cols * small.rows >= 4 && small.full, "{small}");
        assert_eq!(big, Grid::FULL);
        assert!(small.runs() <= 1 + MAX_TILES);
        // Nobody seen yet: a modest 2x2 with the whole frame.
        assert_eq!(
            grid_for_scene(&[], 1920, 1080, 416, p),
            "2x2+full".parse().unwrap()
        );
        assert_eq!("3x2".parse::<Grid>(), Ok(Grid::tiles(3, 2)));
        assert_eq!("1x1".parse::<Grid>(), Ok(Grid::FULL));
        assert_eq!("2x2+full".parse::<Grid>().map(|g| g.runs()), Ok(5));
        assert!("3".parse::<Grid>().is_err() && "0x2".parse::<Grid>().is_err());
    }
}
