//! Prints what Mira reads from each DICOM file given (a development aid; `mira info` is the
//! user-facing command).
fn main() {
    for a in std::env::args().skip(1) {
        match mira_io::read_dicom(std::path::Path::new(&a)) {
            Ok((v, i)) => {
                let sum: f64 = v.data.iter().map(|&x| x as f64).sum();
                println!(
                    "{a}: {} dims {:?} {} inv={} rescale {:?} range {:?} sum {sum} spacing {:?} window {:?}",
                    i.transfer_syntax_name,
                    v.dims,
                    i.photometric,
                    i.inverted,
                    i.rescale,
                    v.range(),
                    i.pixel_spacing,
                    i.window
                );
            }
            Err(e) => println!("{a}: ERROR {e}"),
        }
    }
}
