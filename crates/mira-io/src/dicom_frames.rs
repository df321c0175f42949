//! Geometry of enhanced multi-frame DICOM (enhanced CT/MR, SEG): pixel spacing, slice
//! thickness and spacing, orientation in the Shared Functional Groups Sequence (5200,9229),
//! each frame's position in the Per-frame Functional Groups Sequence (5200,9230), as pydicom
//! exposes them (`ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing`,
//! `ds.PerFrameFunctionalGroupsSequence[i].PlanePositionSequence[0].ImagePositionPatient`).
//! A per-frame group overrides the shared one for its frame; Mira reads the first frame's.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// What the functional groups say about where the frames lie.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FrameGeometry {
    /// Pixel spacing (row, column), mm.
    pub pixel_spacing: Option<(f64, f64)>,
    /// Image Orientation (Patient).
    pub orientation: Option<[f64; 6]>,
    /// Image Position (Patient) of the first frame.
    pub first_position: Option<[f64; 3]>,
    /// Signed distance between consecutive frames along the slice normal: from the frame
    /// positions when they step evenly, else Spacing Between Slices, else Slice Thickness.
    pub step: Option<f64>,
}

fn item(obj: &InMemDicomObject, seq: dicom_core::Tag) -> Option<&InMemDicomObject> {
    obj.element_opt(seq).ok()??.items()?.first()
}

fn floats(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<Vec<f64>> {
    obj.element_opt(tag)
        .ok()??
        .to_multi_float64()
        .ok()
        .filter(|v| v.iter().all(|x| x.is_finite()))
}

/// `tag` inside the first item of sequence `seq` of the frame's group, else the shared one.
fn grouped(
    frame: Option<&InMemDicomObject>,
    shared: Option<&InMemDicomObject>,
    seq: dicom_core::Tag,
    tag: dicom_core::Tag,
) -> Option<Vec<f64>> {
    let from =
        |g: Option<&InMemDicomObject>| g.and_then(|g| item(g, seq)).and_then(|i| floats(i, tag));
    from(frame).or_else(|| from(shared))
}

fn position(frame: &InMemDicomObject) -> Option<[f64; 3]> {
    let v = floats(
        item(frame, tags::PLANE_POSITION_SEQUENCE)?,
        tags::IMAGE_POSITION_PATIENT,
    )?;
    (v.len() == 3).then(|| [v[0], v[1], v[2]])
}

/// The geometry of `obj`'s functional groups (all `None` for a classic single-frame file).
pub(crate) fn frame_geometry(obj: &InMemDicomObject) -> FrameGeometry {
    let shared = item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let frames: &[InMemDicomObject] = obj
        .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .unwrap_or(&[]);
    let first = frames.first();
    let measures = |tag| grouped(first, shared, tags::PIXEL_MEASURES_SEQUENCE, tag);
    let pixel_spacing = measures(tags::PIXEL_SPACING)
        .filter(|v| v.len() >= 2 && v[0] > 0.0 && v[1] > 0.0)
        .map(|v| (v[0], v[1]));
    let orientation = grouped(
        first,
        shared,
        tags::PLANE_ORIENTATION_SEQUENCE,
        tags::IMAGE_ORIENTATION_PATIENT,
    )
    .filter(|v| v.len() == 6)
    .map(|v| [v[0], v[1], v[2], v[3], v[4], v[5]]);
    let positions: Vec<[f64; 3]> = frames.iter().map_while(position).collect();
    let o = orientation.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let normal = [
        o[1] * o[5] - o[2] * o[4],
        o[2] * o[3] - o[0] * o[5],
        o[0] * o[4] - o[1] * o[3],
    ];
    let along = |p: &[f64; 3]| p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2];
    let steps: Vec<f64> = positions
        .windows(2)
        .map(|w| along(&w[1]) - along(&w[0]))
        .collect();
    let even = steps.first().copied().filter(|&s0| {
        s0.abs() > 1e-6
            && steps
                .iter()
                .all(|s| (s - s0).abs() <= 1e-3 * s0.abs().max(1.0))
    });
    let positive = |v: Option<Vec<f64>>| v.and_then(|v| v.first().copied()).filter(|&x| x > 0.0);
    let step = even
        .or_else(|| positive(measures(tags::SPACING_BETWEEN_SLICES)))
        .or_else(|| positive(measures(tags::SLICE_THICKNESS)));
    FrameGeometry {
        pixel_spacing,
        orientation,
        first_position: positions.first().copied(),
        step,
    }
}
