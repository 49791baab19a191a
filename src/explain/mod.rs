//! Looking inside a trained model: LIME superpixel explanations (saliency, Grad-CAM, filters
//! and class images join here).

pub mod lime;
