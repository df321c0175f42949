//! Closed-contour geometry for shape regression (study S4): polygon rasterisation, area,
//! arc-length resampling and point-to-point errors. Points are `[x, y]` in pixels, with pixel
//! `(col, row)` covering `[col, col + 1) × [row, row + 1)` (its centre at `+ 0.5`).

/// Shoelace area of a closed polygon (positive when counter-clockwise in x-right, y-up
/// coordinates; images have y down, so positive means clockwise on screen).
pub fn polygon_area(points: &[[f64; 2]]) -> f64 {
    let n = points.len();
    (0..n)
        .map(|i| {
            let (a, b) = (points[i], points[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum::<f64>()
        / 2.0
}

/// The `h × w` mask of pixels whose centres lie inside the polygon (even-odd rule, scanline
/// crossings), row-major.
pub fn polygon_mask(points: &[[f64; 2]], h: usize, w: usize) -> Vec<u8> {
    let mut mask = vec![0u8; h * w];
    let n = points.len();
    if n < 3 {
        return mask;
    }
    let mut xs: Vec<f64> = Vec::with_capacity(n);
    for row in 0..h {
        let y = row as f64 + 0.5;
        xs.clear();
        for i in 0..n {
            let (a, b) = (points[i], points[(i + 1) % n]);
            // Half-open in y so a vertex on the scanline is counted once.
            if (a[1] <= y) != (b[1] <= y) {
                xs.push(a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]));
            }
        }
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks(2) {
            let [x0, x1] = [pair[0], *pair.get(1).unwrap_or(&pair[0])];
            // Pixel centres col + 0.5 in [x0, x1).
            let c0 = (x0 - 0.5).ceil().max(0.0) as usize;
            let c1 = ((x1 - 0.5).ceil().max(0.0) as usize).min(w);
            for c in c0..c1 {
                mask[row * w + c] = 1;
            }
        }
    }
    mask
}

/// `n` points spaced evenly along the closed polygon's perimeter, starting at its first point.
pub fn resample_closed(points: &[[f64; 2]], n: usize) -> Vec<[f64; 2]> {
    let m = points.len();
    if m == 0 || n == 0 {
        return Vec::new();
    }
    let seg = |i: usize| {
        let (a, b) = (points[i], points[(i + 1) % m]);
        ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt()
    };
    let total: f64 = (0..m).map(seg).sum();
    if total == 0.0 {
        return vec![points[0]; n];
    }
    let mut out = Vec::with_capacity(n);
    let (mut i, mut walked) = (0usize, 0.0f64);
    for k in 0..n {
        let target = total * k as f64 / n as f64;
        while walked + seg(i) < target && i < m - 1 {
            walked += seg(i);
            i += 1;
        }
        let (a, b) = (points[i], points[(i + 1) % m]);
        let t = if seg(i) > 0.0 {
            (target - walked) / seg(i)
        } else {
            0.0
        };
        out.push([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]);
    }
    out
}

/// Mean distance between corresponding contour points (MRSE) and the Dice of two rasterised
/// polygons: the shared metrics ([`mira_stats::metrics`]).
pub use mira_stats::{mask_dice, mean_distance as mean_point_distance};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangle_area_mask_and_resampling_are_hand_values() {
        // Axis-aligned rectangle x ∈ [2, 6), y ∈ [1, 4): 4 × 3 = 12 pixel centres inside.
        let rect = [[2.0, 1.0], [6.0, 1.0], [6.0, 4.0], [2.0, 4.0]];
        assert_eq!(polygon_area(&rect), 12.0);
        let m = polygon_mask(&rect, 6, 8);
        assert_eq!(m.iter().map(|&v| v as usize).sum::<usize>(), 12);
        assert_eq!(m[8 + 2], 1); // row 1, col 2: centre (2.5, 1.5)
        assert_eq!(m[8 + 6], 0); // col 6: centre 6.5 is outside
        assert_eq!(m[4 * 8 + 2], 0); // row 4: centre 4.5 is outside
        // Perimeter 14 in 7 steps of 2, starting at the first vertex.
        let r = resample_closed(&rect, 7);
        assert_eq!(
            r,
            vec![
                [2.0, 1.0],
                [4.0, 1.0],
                [6.0, 1.0],
                [6.0, 3.0],
                [5.0, 4.0],
                [3.0, 4.0],
                [2.0, 3.0]
            ]
        );
    }

    #[test]
    fn triangle_mask_and_disc_area_match_geometry() {
        // Right triangle (0,0), (10,0), (0,10): centres (c+.5, r+.5) with c + r + 1 < 10
        // → rows r have 9 − r pixels: 9 + 8 + … + 1 = 45.
        let tri = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let m = polygon_mask(&tri, 10, 10);
        assert_eq!(m.iter().map(|&v| v as usize).sum::<usize>(), 45);
        assert_eq!(polygon_area(&tri), 50.0);
        // A 176-gon of radius 20: area within 0.03 % of π r²; pixel count within 1 %.
        let disc: Vec<[f64; 2]> = (0..176)
            .map(|k| {
                let t = std::f64::consts::TAU * k as f64 / 176.0;
                [32.0 + 20.0 * t.cos(), 32.0 + 20.0 * t.sin()]
            })
            .collect();
        let area = std::f64::consts::PI * 400.0;
        assert!((polygon_area(&disc) / area - 1.0).abs() < 3e-4);
        let count = polygon_mask(&disc, 64, 64)
            .iter()
            .map(|&v| v as f64)
            .sum::<f64>();
        assert!((count / area - 1.0).abs() < 0.01, "{count} vs {area}");
    }

    #[test]
    fn point_errors_and_dice_are_hand_values() {
        let a = [[0.0, 0.0], [1.0, 1.0]];
        let b = [[3.0, 4.0], [1.0, 1.0]];
        assert_eq!(mean_point_distance(&a, &b), 2.5);
        assert_eq!(mean_point_distance(&[], &b), 0.0);
        assert_eq!(mask_dice(&[1, 1, 0, 0], &[0, 1, 1, 0]), 0.5);
        assert_eq!(mask_dice(&[0, 0], &[0, 0]), 1.0);
    }
}
