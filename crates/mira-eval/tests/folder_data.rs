//! User dataset folders: slicing geometry, percentiles, case discovery, splits by case, label
//! mapping, and the errors a bad folder gives.

use std::path::{Path, PathBuf};

use mira_eval::{
    FolderSpec, Normalise, PhantomFolderFormat, SliceSelection, cut, fit, folder_datasets,
    percentile, put, scan_cases, split_cases, unfit, write_phantom_folder,
};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mira-folder-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn spec(path: &Path) -> FolderSpec {
    FolderSpec {
        path: path.to_path_buf(),
        images: "images".into(),
        labels: "labels".into(),
        channels: ["t1", "t1c", "t2", "flair"].map(String::from).to_vec(),
        label_names: ["background", "core", "oedema", "enhancing"]
            .map(String::from)
            .to_vec(),
        label_values: Some(vec![0, 1, 2, 4]),
        normalise: Normalise::default(),
        slice_axis: 2,
        slices: SliceSelection::All,
        size: None,
        split: [0.6, 0.2, 0.2],
    }
}

#[test]
fn percentile_follows_numpy_linear_interpolation() {
    // Hand-computed with numpy.percentile's default rule: sorted values
    // [-3.5, -1, 0, 2, 3, 4.25, 6, 7.5, 8, 10], position q/100 * 9, linear in between;
    // e.g. q = 37.5 -> position 3.375 -> 2 + 0.375 * (3 - 2) = 2.375.
    let v = [3.0, -1.0, 7.5, 2.0, 10.0, 0.0, 4.25, 8.0, -3.5, 6.0];
    for (q, want) in [
        (0.0, -3.5),
        (0.5, -3.3875),
        (37.5, 2.375),
        (50.0, 3.625),
        (99.5, 9.91),
        (100.0, 10.0),
    ] {
        let got = percentile(&v, q);
        assert!((got - want).abs() < 1e-5, "q={q}: {got} vs {want}");
    }
}

#[test]
fn slices_and_crops_round_trip() {
    // A 3 x 4 x 5 volume holding its own index: every axis cuts the expected voxels.
    let dims = [3, 4, 5];
    let data: Vec<usize> = (0..60).collect();
    // Axis 2, slice 1: rows are j, columns i: pixel (y=2, x=1) is voxel 1 + 3 * (2 + 4 * 1).
    assert_eq!(cut(&data, dims, 2, 1)[2 * 3 + 1], 1 + 3 * (2 + 4));
    // Axis 0, slice 2: rows are k, columns j: (y=4, x=3) is voxel 2 + 3 * (3 + 4 * 4).
    assert_eq!(cut(&data, dims, 0, 2)[4 * 4 + 3], 2 + 3 * (3 + 4 * 4));
    // Axis 1, slice 3: rows k, columns i: (y=1, x=2) is voxel 2 + 3 * (3 + 4 * 1).
    assert_eq!(cut(&data, dims, 1, 3)[3 + 2], 2 + 3 * (3 + 4));
    for axis in 0..3 {
        let mut copy = vec![0; 60];
        for k in 0..dims[axis] {
            put(&mut copy, dims, axis, k, &cut(&data, dims, axis, k));
        }
        assert_eq!(copy, data, "axis {axis}");
    }
    // Pad 3x4 to 6x6, crop back; crop 3x4 to 2x2 and put it back into the original.
    let img: Vec<i32> = (1..=12).collect();
    let padded = fit(&img, (3, 4), (6, 6), 0);
    assert_eq!(padded.iter().filter(|&&v| v != 0).count(), 12);
    assert_eq!(
        padded[6 + 1],
        1,
        "offset (-1, -1): source (0, 0) lands at (1, 1)"
    );
    assert_eq!(fit(&padded, (6, 6), (3, 4), 0), img);
    let cropped = fit(&img, (3, 4), (2, 2), 0);
    assert_eq!(cropped, vec![2, 3, 6, 7]);
    let mut back = img.clone();
    unfit(&[-2, -3, -6, -7], (2, 2), &mut back, (3, 4));
    assert_eq!(back, vec![1, -2, -3, 4, 5, -6, -7, 8, 9, 10, 11, 12]);
}

#[test]
fn splits_are_by_case_and_seeded() {
    let parts = split_cases(10, [0.6, 0.2, 0.2], 3);
    assert_eq!(
        parts.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![6, 2, 2]
    );
    let mut all: Vec<usize> = parts.concat();
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    assert_eq!(parts, split_cases(10, [0.6, 0.2, 0.2], 3));
    assert_ne!(parts, split_cases(10, [0.6, 0.2, 0.2], 4));
    // Never an empty test split.
    assert_eq!(split_cases(2, [0.9, 0.1, 0.0001], 0)[2].len(), 1);
}

#[test]
fn a_phantom_folder_reads_as_three_splits() {
    let dir = tmp("splits");
    write_phantom_folder(&dir, 5, 3, 32, 1, PhantomFolderFormat::Nifti).unwrap();
    let s = spec(&dir);
    s.validate().unwrap();
    let (train, val, test, refs) = folder_datasets(&s, 9, [100, 100, 100]).unwrap();
    // 5 cases: 3 train, 1 val, 1 test; 3 slices each.
    assert_eq!(
        (train.items.len(), val.items.len(), test.items.len()),
        (9, 3, 3)
    );
    assert_eq!(refs.len(), 3);
    assert!(refs.iter().all(|r| r.case == refs[0].case));
    assert_eq!(test.channels(), 4);
    assert_eq!(test.n_labels(), 4);
    let all = [&train, &val, &test];
    for d in all {
        for s in &d.items {
            assert!(s.image.iter().all(|v| (0.0..=1.0).contains(v)));
            assert!(s.labels.iter().all(|&l| l < 4));
        }
    }
    // BraTS value 4 became class 3.
    assert!(
        all.iter()
            .any(|d| d.items.iter().any(|s| s.labels.contains(&3)))
    );
    // Caps take evenly spaced slices; the same call gives the same data.
    let (_, _, capped, r2) = folder_datasets(&s, 9, [0, 0, 2]).unwrap();
    assert_eq!(capped.items.len(), 2);
    assert_eq!(r2.iter().map(|r| r.slice).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(capped.items[0], test.items[0]);
    // Cropping to a size.
    let mut c = s.clone();
    c.size = Some([16, 24]);
    let (_, _, t, _) = folder_datasets(&c, 9, [0, 0, 3]).unwrap();
    assert_eq!((t.items[0].height, t.items[0].width), (16, 24));
    let _ = std::fs::remove_dir_all(&dir);
}

fn error_of(dir: &Path, s: &FolderSpec) -> String {
    match folder_datasets(s, 0, [10, 10, 10]) {
        Ok(_) => panic!("{} should be refused", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_folders_name_the_file() {
    let dir = tmp("bad");
    write_phantom_folder(&dir, 3, 2, 16, 1, PhantomFolderFormat::Nifti).unwrap();
    let s = spec(&dir);
    // Label value 4 undeclared.
    let mut no4 = s.clone();
    no4.label_values = Some(vec![0, 1, 2, 3]);
    let e = error_of(&dir, &no4);
    assert!(
        e.contains("label value 4") && e.contains("labels/case"),
        "{e}"
    );
    // A missing channel file.
    std::fs::remove_file(dir.join("images/case001_t2.nii.gz")).unwrap();
    let e = error_of(&dir, &s);
    assert!(
        e.contains("case001") && e.contains("one file per channel"),
        "{e}"
    );
    // A missing label map.
    std::fs::remove_file(dir.join("images/case001_t1.nii.gz")).unwrap();
    std::fs::remove_file(dir.join("images/case001_t1c.nii.gz")).unwrap();
    std::fs::remove_file(dir.join("images/case001_flair.nii.gz")).unwrap();
    std::fs::remove_file(dir.join("labels/case002.nii.gz")).unwrap();
    let e = error_of(&dir, &s);
    assert!(e.contains("no label map for case `case002`"), "{e}");
    // A truncated image.
    std::fs::copy(
        dir.join("labels/case000.nii.gz"),
        dir.join("labels/case002.nii.gz"),
    )
    .unwrap();
    let bytes = std::fs::read(dir.join("images/case002_t1.nii.gz")).unwrap();
    std::fs::write(
        dir.join("images/case002_t1.nii.gz"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let e = error_of(&dir, &s);
    assert!(e.contains("case002_t1.nii.gz"), "{e}");
    // Spec errors.
    let mut v = s.clone();
    v.split = [0.5, 0.5, 0.5];
    assert!(v.validate().unwrap_err().to_string().contains("sum to 1"));
    v = s.clone();
    v.normalise = Normalise::Percentile {
        low: 90.0,
        high: 10.0,
    };
    assert!(v.validate().unwrap_err().to_string().contains("low < high"));
    // An empty images folder.
    let empty = tmp("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = scan_cases(&empty, None, &s.channels)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no image files"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn one_file_can_hold_every_channel() {
    let dir = tmp("multi");
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let geom = |dims: Vec<usize>, data: Vec<f32>| mira_io::Volume {
        spacing: vec![1.0; dims.len()],
        dims,
        affine: [
            [1.0, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
        ],
        data,
    };
    // A 4D NIfTI: 4 x 3 x 2 voxels, 2 channels on the fourth axis (channel c = 100 c + index).
    let data: Vec<f32> = (0..48).map(|i| (100 * (i / 24) + i % 24) as f32).collect();
    mira_io::write_nifti(&dir.join("images/a.nii.gz"), &geom(vec![4, 3, 2, 2], data)).unwrap();
    // A colour PNG: 3 channels interleaved, 2 x 2 pixels.
    let rgb: Vec<f32> = (0..12).map(|i| (10 * i) as f32).collect();
    mira_io::write_png(&dir.join("images/b.png"), &geom(vec![3, 2, 2], rgb), false).unwrap();
    let two = vec!["x".to_string(), "y".to_string()];
    let cases = scan_cases(&dir.join("images"), None, &two).unwrap();
    assert_eq!(cases.len(), 2);
    let mut s = spec(&dir);
    s.channels = two.clone();
    s.normalise = Normalise::MinMax;
    let a = mira_eval::read_case(&cases[0], 2, &s).unwrap();
    assert_eq!(a.channels[0].dims, [4, 3, 2]);
    assert_eq!(a.scales, vec![(0.0, 23.0), (100.0, 123.0)]);
    assert_eq!(a.channels[1].data[23], 1.0);
    // The colour image is three channels; declaring two is an error naming the count.
    let e = mira_eval::read_case(&cases[1], 2, &s)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("3 channel(s)") && e.contains("declares 2"),
        "{e}"
    );
    s.channels = vec!["r".into(), "g".into(), "b".into()];
    let b = mira_eval::read_case(&cases[1], 3, &s).unwrap();
    // Green of pixel 3 is stored value 10 * (3 * 3 + 1) = 100, the green maximum -> 1.
    assert_eq!((b.scales[1], b.channels[1].data[3]), ((10.0, 100.0), 1.0));
    let _ = std::fs::remove_dir_all(&dir);
}
