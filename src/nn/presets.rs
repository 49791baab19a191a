//! The seed architectures of the FER2013 homework reports, built for any input shape and
//! class count.
//!
//! | name | from | params on 48x48x1, 7 classes |
//! |---|---|---|
//! | `keras-hw3` | Keras CNN of report 000 | 4,631,559 |
//! | `alexnet-bn` | PyTorch AlexNetBN2 of report 001 | 7,939,655 |
//! | `vgg16`, `vgg19` (`-selu` variants) | report 002 (conv stacks of VGG, dense 1024-1024 head) | |
//! | `dnn` | dense network of about keras-hw3's size, for the CNN-vs-DNN comparison | 4,466,695 |
//! | `small` | a small fast CNN for quick runs and tests | |

use super::spec::{Act, LayerSpec, ModelSpec, Padding};
use super::Init;

/// Names of the presets.
pub const PRESETS: &[&str] = &["keras-hw3", "alexnet-bn", "vgg16", "vgg16-selu", "vgg19", "vgg19-selu", "dnn", "small"];

fn conv(filters: usize, k: usize, padding: Padding, act: Option<Act>) -> LayerSpec {
    LayerSpec::Conv2d { filters, kernel: (k, k), stride: (1, 1), padding, activation: act, init: Init::GlorotUniform, l2: 0.0 }
}
fn dense(units: usize, act: Option<Act>) -> LayerSpec {
    LayerSpec::Dense { units, activation: act, init: Init::GlorotUniform, l2: 0.0 }
}
fn pad(p: usize) -> LayerSpec {
    LayerSpec::ZeroPad { top: p, bottom: p, left: p, right: p }
}
fn maxpool(k: usize, s: usize) -> LayerSpec {
    LayerSpec::MaxPool { kernel: (k, k), stride: (s, s) }
}
fn avgpool(k: usize, s: usize) -> LayerSpec {
    LayerSpec::AvgPool { kernel: (k, k), stride: (s, s) }
}
fn bn() -> LayerSpec {
    LayerSpec::BatchNorm { momentum: 0.1, eps: 1e-5 }
}
fn act(a: Act) -> LayerSpec {
    LayerSpec::Activation { act: a }
}
fn dropout(rate: f32) -> LayerSpec {
    LayerSpec::Dropout { rate }
}

/// The preset called `name`, ending in `classes` outputs; None if there is no such preset.
pub fn preset(name: &str, classes: usize) -> Option<ModelSpec> {
    let relu = Some(Act::Relu);
    let layers = match name {
        "keras-hw3" => vec![
            conv(64, 5, Padding::Valid, relu),
            pad(2),
            maxpool(5, 2),
            pad(1),
            conv(64, 3, Padding::Valid, relu),
            pad(1),
            conv(64, 3, Padding::Valid, relu),
            avgpool(3, 2),
            pad(1),
            conv(128, 3, Padding::Valid, relu),
            pad(1),
            conv(128, 3, Padding::Valid, relu),
            pad(1),
            avgpool(3, 2),
            LayerSpec::Flatten,
            dense(1024, relu),
            dropout(0.5),
            dense(1024, relu),
            dropout(0.5),
            dense(classes, None),
        ],
        "alexnet-bn" => {
            let mut l = vec![];
            for (f, k, p) in [(32, 5, 0), (64, 5, 0)] {
                l.extend([conv(f, k, Padding::Explicit(p), None), bn(), act(Act::Relu), maxpool(2, 2)]);
            }
            for f in [128, 256] {
                l.extend([conv(f, 3, Padding::Explicit(1), None), bn(), act(Act::Relu)]);
            }
            l.push(maxpool(3, 1));
            l.extend([conv(128, 1, Padding::Valid, None), bn(), act(Act::Relu), LayerSpec::Flatten]);
            l.extend([dropout(0.5), dense(1024, None), bn(), act(Act::Relu)]);
            l.extend([dropout(0.5), dense(1024, None), bn(), act(Act::Relu)]);
            l.extend([dense(classes, None), act(Act::LogSoftmax)]);
            l
        }
        "vgg16" | "vgg19" | "vgg16-selu" | "vgg19-selu" => {
            let a = if name.ends_with("selu") { Act::Selu } else { Act::Relu };
            let deep = if name.starts_with("vgg19") { 4 } else { 3 };
            let mut l = vec![];
            for (f, n) in [(64, 2), (128, 2), (256, deep), (512, deep), (512, deep)] {
                for _ in 0..n {
                    let mut c = conv(f, 3, Padding::Same, Some(a));
                    if a == Act::Selu {
                        if let LayerSpec::Conv2d { init, .. } = &mut c {
                            *init = Init::LecunNormal;
                        }
                    }
                    l.push(c);
                }
                l.push(maxpool(2, 2));
            }
            l.extend([LayerSpec::Flatten, dense(1024, Some(a)), dropout(0.5), dense(1024, Some(a)), dropout(0.5), dense(classes, None)]);
            l
        }
        "dnn" => {
            vec![LayerSpec::Flatten, dense(1024, relu), dropout(0.5), dense(1024, relu), dropout(0.5), dense(1024, relu), dropout(0.5), dense(classes, None)]
        }
        "small" => vec![
            conv(16, 3, Padding::Same, relu),
            maxpool(2, 2),
            conv(32, 3, Padding::Same, relu),
            maxpool(2, 2),
            LayerSpec::Flatten,
            dense(64, relu),
            dense(classes, None),
        ],
        _ => return None,
    };
    Some(ModelSpec { input: None, layers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_parameter_counts() {
        let fer = [1, 48, 48];
        assert_eq!(preset("keras-hw3", 7).unwrap().param_count(&fer).unwrap(), 4_631_559);
        assert_eq!(preset("alexnet-bn", 7).unwrap().param_count(&fer).unwrap(), 7_939_655);
        let dnn = preset("dnn", 7).unwrap().param_count(&fer).unwrap();
        assert!((dnn as f64 / 4_631_559.0 - 1.0).abs() < 0.05, "{dnn}");
        for p in PRESETS {
            preset(p, 7).unwrap().shapes(&fer).unwrap();
            // all but VGG (five 2x2 pools need 32 pixels) also fit 28x28 Fashion-MNIST
            let small = preset(p, 10).unwrap().shapes(&[1, 28, 28]);
            assert_eq!(small.is_ok(), !p.starts_with("vgg"), "{p}");
        }
        // the spec file of report 003's 4-block CNN reproduces its Keras parameter count
        let r003 = ModelSpec::from_file(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/specs/report003.txt"))).unwrap();
        let shapes = r003.shapes(&fer).unwrap();
        let buffers: usize = r003.layers.iter().zip(&shapes).map(|(l, s)| l.buffer_count(s)).sum();
        assert_eq!(r003.param_count(&fer).unwrap(), 106_524_935);
        assert_eq!(buffers, 11_776);
        assert!(shapes.contains(&vec![73_728]));
        let shapes = preset("keras-hw3", 7).unwrap().shapes(&fer).unwrap();
        assert_eq!(shapes[1], vec![64, 44, 44]);
        assert_eq!(shapes[3], vec![64, 22, 22]);
        assert_eq!(shapes[14], vec![128, 5, 5]);
        assert_eq!(shapes[15], vec![3200]);
    }
}
