//! Vigil evaluation: ground-truth readers and the metrics that measure the analytics.
//!
//! - [`ap`]: detection average precision (AP50, VOC all-point) with ignore regions.
//! - [`mot`]: CLEAR MOT and IDF1 tracking metrics (as py-motmetrics) and the MOT17 protocol.
//! - [`motchallenge`]: MOTChallenge `gt.txt` / `det.txt` / `seqinfo.ini` readers and the MOT17 class rules.
//! - [`motion`]: CDnet sequence reader and per-pixel motion-mask scoring (precision, recall, F1, PWC).
//! - [`night`]: a documented model of night footage (exposure, sensor noise, gamma, blur) for day frames.

pub mod ap;
pub mod mot;
pub mod motchallenge;
pub mod motion;
pub mod night;
