//! Owned 8-bit images: gray (motion, health) and packed BGR (detectors; the bundled models take BGR).
//!
//! Rows are tightly packed (stride = width for gray, width * 3 for BGR). Constructors check that the buffer
//! length matches the size, so later pixel loops can index without bounds surprises.

use thiserror::Error;

/// Errors building or cutting an image.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ImageError {
    /// The buffer does not hold exactly `width * height * channels` bytes.
    #[error("image buffer has {actual} bytes, {width}x{height}x{channels} needs {expected}")]
    BufferSize {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Bytes per pixel.
        channels: u32,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// A crop rectangle is empty or lies outside the image.
    #[error("crop {x},{y} {w}x{h} is outside the {width}x{height} image")]
    CropOutside {
        /// Crop left.
        x: u32,
        /// Crop top.
        y: u32,
        /// Crop width.
        w: u32,
        /// Crop height.
        h: u32,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
}

macro_rules! image_type {
    ($name:ident, $channels:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name {
            width: u32,
            height: u32,
            data: Vec<u8>,
        }

        impl $name {
            /// Bytes per pixel.
            pub const CHANNELS: u32 = $channels;

            /// An image from a tightly packed buffer; fails if the length does not match the size.
            pub fn from_vec(width: u32, height: u32, data: Vec<u8>) -> Result<Self, ImageError> {
                let expected = width as usize * height as usize * Self::CHANNELS as usize;
                if data.len() != expected {
                    return Err(ImageError::BufferSize {
                        width,
                        height,
                        channels: Self::CHANNELS,
                        expected,
                        actual: data.len(),
                    });
                }
                Ok(Self {
                    width,
                    height,
                    data,
                })
            }

            /// An image filled with one byte value.
            pub fn filled(width: u32, height: u32, value: u8) -> Self {
                let len = width as usize * height as usize * Self::CHANNELS as usize;
                Self {
                    width,
                    height,
                    data: vec![value; len],
                }
            }

            /// Width in pixels.
            pub fn width(&self) -> u32 {
                self.width
            }

            /// Height in pixels.
            pub fn height(&self) -> u32 {
                self.height
            }

            /// Bytes per row.
            pub fn stride(&self) -> usize {
                self.width as usize * Self::CHANNELS as usize
            }

            /// The pixel bytes, row after row.
            pub fn data(&self) -> &[u8] {
                &self.data
            }

            /// The pixel bytes, mutable.
            pub fn data_mut(&mut self) -> &mut [u8] {
                &mut self.data
            }

            /// The buffer, giving the image up.
            pub fn into_vec(self) -> Vec<u8> {
                self.data
            }

            /// One row of pixel bytes.
            pub fn row(&self, y: u32) -> &[u8] {
                let s = self.stride();
                &self.data[y as usize * s..(y as usize + 1) * s]
            }

            /// A copy of the rectangle at (x, y) of size w x h; fails when it is empty or not inside the image.
            pub fn crop(&self, x: u32, y: u32, w: u32, h: u32) -> Result<Self, ImageError> {
                let inside = w > 0
                    && h > 0
                    && x.checked_add(w).is_some_and(|r| r <= self.width)
                    && y.checked_add(h).is_some_and(|b| b <= self.height);
                if !inside {
                    return Err(ImageError::CropOutside {
                        x,
                        y,
                        w,
                        h,
                        width: self.width,
                        height: self.height,
                    });
                }
                let c = Self::CHANNELS as usize;
                let mut data = Vec::with_capacity(w as usize * h as usize * c);
                for row in y..y + h {
                    let start = row as usize * self.stride() + x as usize * c;
                    data.extend_from_slice(&self.data[start..start + w as usize * c]);
                }
                Ok(Self {
                    width: w,
                    height: h,
                    data,
                })
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({}x{})", stringify!($name), self.width, self.height)
            }
        }
    };
}

image_type!(GrayImage, 1, "An 8-bit single-channel image (luma).");
image_type!(
    BgrImage,
    3,
    "An 8-bit packed BGR image (blue, green, red per pixel)."
);

impl GrayImage {
    /// The value at (x, y). Panics when out of bounds (callers iterate within `width`/`height`).
    pub fn get(&self, x: u32, y: u32) -> u8 {
        self.data[y as usize * self.width as usize + x as usize]
    }
}

impl BgrImage {
    /// The (b, g, r) value at (x, y). Panics when out of bounds (callers iterate within `width`/`height`).
    pub fn get(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_buffer_size_is_refused() {
        assert!(matches!(
            GrayImage::from_vec(4, 4, vec![0; 15]),
            Err(ImageError::BufferSize {
                expected: 16,
                actual: 15,
                ..
            })
        ));
        assert!(BgrImage::from_vec(2, 2, vec![0; 12]).is_ok());
    }

    #[test]
    fn crop_copies_the_rectangle() {
        let data: Vec<u8> = (0..16).collect();
        let img = GrayImage::from_vec(4, 4, data).unwrap();
        let c = img.crop(1, 2, 2, 2).unwrap();
        assert_eq!(c.data(), &[9, 10, 13, 14]);
        assert!(img.crop(3, 3, 2, 1).is_err());
        assert!(img.crop(0, 0, 0, 1).is_err());
        assert!(img.crop(u32::MAX, 0, 2, 1).is_err());
    }

    #[test]
    fn bgr_crop_keeps_channels() {
        let data: Vec<u8> = (0..12).collect();
        let img = BgrImage::from_vec(2, 2, data).unwrap();
        let c = img.crop(1, 1, 1, 1).unwrap();
        assert_eq!(c.data(), &[9, 10, 11]);
        assert_eq!(img.get(1, 0), [3, 4, 5]);
    }
}
