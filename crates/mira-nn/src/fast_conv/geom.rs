//! The shape arithmetic of one convolution, shared by the kernels and the burn glue.

/// Sizes of a dense (ungrouped) 3D convolution; a 2D one has depth 1 and kernel depth 1.
///
/// Layouts are burn's: input `[batch, cin, d, h, w]`, weight `[cout, cin, kd, kh, kw]`, output
/// `[batch, cout, od, oh, ow]`, all contiguous row-major. The kernels see one image as a
/// `cin × (d·h·w)` matrix and the weight as `cout × (cin·kd·kh·kw)`; the im2col row of input
/// channel `ci` and kernel offset `(kd, kh, kw)` is `((ci·KD + kd)·KH + kh)·KW + kw`, which is
/// exactly the weight's column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Input `[d, h, w]`.
    pub input: [usize; 3],
    /// Kernel `[kd, kh, kw]`.
    pub kernel: [usize; 3],
    /// Stride per axis (≥ 1).
    pub stride: [usize; 3],
    /// Zero padding per axis, the same before and after.
    pub pad: [usize; 3],
    /// Dilation per axis (≥ 1).
    pub dilation: [usize; 3],
    /// Output `[od, oh, ow]`, derived.
    pub output: [usize; 3],
}

impl ConvGeom {
    /// The geometry, or `None` when a size is zero or the (padded) input is smaller than the
    /// dilated kernel.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        batch: usize,
        cin: usize,
        cout: usize,
        input: [usize; 3],
        kernel: [usize; 3],
        stride: [usize; 3],
        pad: [usize; 3],
        dilation: [usize; 3],
    ) -> Option<Self> {
        if batch == 0 || cin == 0 || cout == 0 {
            return None;
        }
        let mut output = [0; 3];
        for a in 0..3 {
            if input[a] == 0 || kernel[a] == 0 || stride[a] == 0 || dilation[a] == 0 {
                return None;
            }
            let span = dilation[a] * (kernel[a] - 1) + 1;
            let padded = input[a] + 2 * pad[a];
            if padded < span {
                return None;
            }
            output[a] = (padded - span) / stride[a] + 1;
        }
        Some(Self {
            batch,
            cin,
            cout,
            input,
            kernel,
            stride,
            pad,
            dilation,
            output,
        })
    }

    /// The geometry of a 5D input `x` (`[B, Ci, D, H, W]`) convolved with a 5D weight
    /// (`[Co, Ci, KD, KH, KW]`); `None` as for [`ConvGeom::new`], or when a shape is not 5D.
    pub fn from_shapes(
        x: &[usize],
        w: &[usize],
        stride: [usize; 3],
        pad: [usize; 3],
        dilation: [usize; 3],
    ) -> Option<Self> {
        let (&[b, ci, d, h, wd], &[co, _, kd, kh, kw]) = (x, w) else {
            return None;
        };
        Self::new(b, ci, co, [d, h, wd], [kd, kh, kw], stride, pad, dilation)
    }

    /// Voxels of one input channel.
    pub fn in_len(&self) -> usize {
        self.input.iter().product()
    }

    /// Voxels of one output channel.
    pub fn out_len(&self) -> usize {
        self.output.iter().product()
    }

    /// Taps of the kernel per input channel.
    pub fn taps(&self) -> usize {
        self.kernel.iter().product()
    }

    /// Rows of the im2col matrix (= columns of the flattened weight).
    pub fn col_rows(&self) -> usize {
        self.cin * self.taps()
    }

    /// `(input floats per image, output floats per image, im2col rows, output voxels per
    /// channel)`: the strides the kernels walk the batch with.
    pub fn sizes(&self) -> (usize, usize, usize, usize) {
        (
            self.cin * self.in_len(),
            self.cout * self.out_len(),
            self.col_rows(),
            self.out_len(),
        )
    }

    /// Output lines (`od · oh` rows of `ow` voxels): the unit the kernels tile by.
    pub fn lines(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// A 1×1×1 kernel with stride 1 and no padding: the image itself is the im2col matrix.
    pub fn pointwise(&self) -> bool {
        self.kernel == [1; 3] && self.stride == [1; 3] && self.pad == [0; 3]
    }

    /// Lines per tile, so that one tile's im2col buffer holds about `budget` floats (at least
    /// one line).
    pub fn tile_lines(&self, budget: usize) -> usize {
        let per_line = self.col_rows() * self.output[2];
        (budget / per_line.max(1)).clamp(1, self.lines())
    }
}

/// The output positions `o` in `0..out` whose input index `o·stride + offset − pad` lies in
/// `0..len`, as a half-open range (empty when none does).
pub(crate) fn valid_range(
    offset: usize,
    pad: usize,
    stride: usize,
    len: usize,
    out: usize,
) -> (usize, usize) {
    // o·s + offset ≥ pad  ⇔  o ≥ ceil((pad − offset) / s)
    let lo = if pad > offset {
        (pad - offset).div_ceil(stride)
    } else {
        0
    };
    // o·s + offset − pad < len  ⇔  o·s < len + pad − offset
    let hi = if len + pad > offset {
        (len + pad - offset).div_ceil(stride)
    } else {
        0
    };
    let lo = lo.min(out);
    (lo, hi.clamp(lo, out))
}
