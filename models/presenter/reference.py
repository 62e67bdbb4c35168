"""Builds the presenter's reference encoder, `reference_encoder.onnx`: any photo in, the portrait
aligned to the renderer's canonical face placement out, so that `avatar=photo.jpg` needs no
preparation. One ONNX graph, standard ops only (GridSample, AveragePool, Conv, ...), run by the
runtime at READY:

  image [H, W, 3] f32 RGB in [0, 1], any size
    -> pass 1: the photo letterboxed to 128x128 (4x supersampled), mediapipe's BlazeFace
       short-range detector, anchors decoded: the best face and the best face elsewhere;
    -> pass 2: a square crop around the best face, turned upright by its eye line, detected
       again, and mirrored, for finer keypoints (the mean of both);
    -> a similarity transform putting the eyes and mouth centre on config.EYE_LEFT/EYE_RIGHT/
       MOUTH, the photo resampled through it at 512x512 (4x supersampled, edges clamped).
  portrait  [512, 512, 3] f32   the aligned portrait
  status    [1] int64           0 ok, 1 no face, 2 several faces, 3 profile, 4 face too small
  face_box  [4] f32             the face found: x, y, width, height in photo pixels
  face_keypoints [6, 2] f32     its eyes, nose tip, mouth centre and ear tragions, photo pixels

The detector is mediapipe 0.10.14's face_detection_short_range.tflite (Apache-2.0), converted
with tflite2onnx and inlined three times. Needs the reference environment:

  models/presenter/reference-env.sh
  ~/.local/share/gst-generative/reference-venv/bin/python models/presenter/reference.py
"""

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import config

MEDIAPIPE = "mediapipe==0.10.14"
MEDIAPIPE_WHEEL = "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
DETECTOR = "mediapipe/modules/face_detection/face_detection_short_range.tflite"

DET = 128  # detector input size
SUPER = 4  # supersampling of every resampling (then an average pool)
MIN_SCORE = 0.5  # mediapipe's own threshold for this detector
CROP = 1.6  # pass-2 crop side over the pass-1 box side
MIN_FACE_PX = 48.0  # narrower faces are "too small": the 512 portrait would be a blur
MAX_YAW = 0.35  # |nose offset| in eye distances beyond this is turned too far (see build)
MIN_EYES_OVER_BOX = 0.25  # eye distance over face width under this is a profile
# Keypoints of BlazeFace: subject's right eye (image left), left eye, nose tip, mouth centre,
# right ear tragion, left ear tragion.
EYE_R, EYE_L, NOSE, MOUTH, EAR_R, EAR_L = range(6)
# The canonical points as continuous coordinates (config's are pixel indices, centres at +0.5).
CANON = np.array([config.EYE_LEFT, config.EYE_RIGHT, config.MOUTH], np.float32) + 0.5
# The bundled avatars are aligned on the face mesh's eye centres and lip line (align.py); the
# detector's keypoints sit a little differently (its mouth centre is about 10 px lower). `main`
# measures where the detector finds them on the bundled avatars and aligns photos to that.
AVATARS = ["avatars/astronaut.png", "avatars/grace-hopper.png"]


def anchors() -> np.ndarray:
    """The 896 SSD anchor centres of the short-range detector, [896, 2] in [0, 1]: stride 8
    (16x16 cells, 2 anchors each), then stride 16 (8x8 cells, 6 anchors each)."""
    out = []
    for cells, per in ((16, 2), (8, 6)):
        for y in range(cells):
            for x in range(cells):
                out += [((x + 0.5) / cells, (y + 0.5) / cells)] * per
    return np.array(out, np.float32)


class Graph:
    """A small builder: `op` adds a node and returns its output name."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, hint):
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, value, dtype=np.float32, hint="c"):
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, kind, *inputs, hint=None, outputs=1, **attrs):
        names = [self.name(hint or kind.lower()) for _ in range(outputs)]
        # Every node named, uniquely: ONNX Runtime 1.20's graph fusions name the nodes they make
        # after the nodes they fuse, and refuse the model when two end up the same.
        self.nodes.append(helper.make_node(kind, list(inputs), names, name=names[0], **attrs))
        return names[0] if outputs == 1 else names

    def inline(self, model: onnx.ModelProto, prefix: str, inputs: dict) -> list:
        """Adds every node of `model` with its values renamed under `prefix`; `inputs` maps the
        model's input names to values of this graph. Returns the model's output names."""
        g = model.graph
        rename = dict(inputs)
        for init in g.initializer:
            rename[init.name] = prefix + init.name
            t = onnx.TensorProto()
            t.CopyFrom(init)
            t.name = prefix + init.name
            self.inits.append(t)
        for node in g.node:
            n = onnx.NodeProto()
            n.CopyFrom(node)
            n.name = prefix + (node.name or node.output[0])
            for i, v in enumerate(n.input):
                n.input[i] = rename.setdefault(v, prefix + v)
            for i, v in enumerate(n.output):
                n.output[i] = rename.setdefault(v, prefix + v)
            self.nodes.append(n)
        return [rename[o.name] for o in g.output]


def sample(g, image_nchw, grid_x, grid_y, size):
    """Bilinear samples of the image at continuous pixel coordinates (grid_x, grid_y), each
    [size*SUPER, size*SUPER], averaged down to [1, 3, size, size]; edges clamped."""
    h = g.op("Gather", g.op("Shape", image_nchw), g.const(2, np.int64))
    w = g.op("Gather", g.op("Shape", image_nchw), g.const(3, np.int64))
    hf, wf = g.op("Cast", h, to=TensorProto.FLOAT), g.op("Cast", w, to=TensorProto.FLOAT)
    # align_corners=0: normalised x = 2 X / W - 1 for a continuous coordinate X.
    nx = g.op("Sub", g.op("Div", g.op("Mul", grid_x, g.const(2.0)), wf), g.const(1.0))
    ny = g.op("Sub", g.op("Div", g.op("Mul", grid_y, g.const(2.0)), hf), g.const(1.0))
    grid = g.op("Concat", g.op("Unsqueeze", nx, g.const([-1], np.int64)),
                g.op("Unsqueeze", ny, g.const([-1], np.int64)), axis=-1)
    grid = g.op("Unsqueeze", grid, g.const([0], np.int64))
    dense = g.op("GridSample", image_nchw, grid, mode="bilinear", padding_mode="border", align_corners=0)
    return g.op("AveragePool", dense, kernel_shape=[SUPER, SUPER], strides=[SUPER, SUPER])


def unit_grid(g, size):
    """Sample centres of a size x size output supersampled SUPER times, in [0, 1], made in the
    graph (constants would weigh 16 MB each): u [1, n] across, v [n, 1] down."""
    n = size * SUPER
    t = g.op("Div", g.op("Add", g.op("Cast", g.op("Range", g.const(0, np.int64), g.const(n, np.int64),
                                                       g.const(1, np.int64)), to=TensorProto.FLOAT),
                             g.const(0.5)), g.const(float(n)))
    return g.op("Reshape", t, g.const([1, n], np.int64)), g.op("Reshape", t, g.const([n, 1], np.int64))


def detect(g, detector, image_nchw, square, prefix, mirror=False):
    """Runs the detector on a square of the photo and decodes it. `square` is (cx, cy, side,
    cos, sin): its centre (continuous pixel coordinates), side and rotation (scalars); it is
    mirrored left-right first if `mirror`. Returns scores [896], boxes [896, 4] (cx, cy, w, h)
    and keypoints [896, 6, 2], in photo pixels (a mirrored run's keypoints keep the detector's
    order: its "right eye" is the photo's left one)."""
    cx, cy, side, cos, sin = square

    def to_photo(nu, nv):
        """Positions in [0, 1] of the square -> photo coordinates (broadcasting)."""
        if mirror:
            nu = g.op("Sub", g.const(1.0), nu)
        a = g.op("Mul", g.op("Sub", nu, g.const(0.5)), side)
        b = g.op("Mul", g.op("Sub", nv, g.const(0.5)), side)
        x = g.op("Add", cx, g.op("Sub", g.op("Mul", cos, a), g.op("Mul", sin, b)))
        y = g.op("Add", cy, g.op("Add", g.op("Mul", sin, a), g.op("Mul", cos, b)))
        return x, y

    u, v = unit_grid(g, DET)
    gx, gy = to_photo(u, v)
    patch = sample(g, image_nchw, gx, gy, DET)
    # mediapipe feeds [-1, 1].
    patch = g.op("Sub", g.op("Mul", patch, g.const(2.0)), g.const(1.0))
    reg, score = g.inline(detector, prefix, {detector.graph.input[0].name: patch})
    reg = g.op("Reshape", reg, g.const([896, 16], np.int64))
    score = g.op("Sigmoid", g.op("Clip", g.op("Reshape", score, g.const([896], np.int64)),
                                 g.const(-100.0), g.const(100.0)))
    # Offsets are in detector pixels from the anchor centre.
    xy = g.op("Reshape", reg, g.const([896, 8, 2], np.int64))
    unit = g.op("Add", g.op("Div", xy, g.const(float(DET))), g.const(anchors()[:, None, :]))
    x, y = to_photo(g.op("Gather", unit, g.const(0, np.int64), axis=2),
                    g.op("Gather", unit, g.const(1, np.int64), axis=2))
    centres = g.op("Concat", g.op("Unsqueeze", x, g.const([2], np.int64)),
                   g.op("Unsqueeze", y, g.const([2], np.int64)), axis=2)  # [896, 8, 2]
    box_c = g.op("Slice", centres, g.const([0], np.int64), g.const([1], np.int64), g.const([1], np.int64))
    box_wh = g.op("Mul", g.op("Slice", xy, g.const([1], np.int64), g.const([2], np.int64),
                              g.const([1], np.int64)), g.op("Div", side, g.const(float(DET))))
    boxes = g.op("Reshape", g.op("Concat", box_c, box_wh, axis=1), g.const([896, 4], np.int64))
    keypoints = g.op("Slice", centres, g.const([2], np.int64), g.const([8], np.int64), g.const([1], np.int64))
    return score, boxes, keypoints


def pick(g, table, index):
    """Row `index` (a [1] int64) of `table`, without the row dimension."""
    return g.op("Squeeze", g.op("Gather", table, index, axis=0), g.const([0], np.int64))


def build(detector: onnx.ModelProto, targets: np.ndarray) -> onnx.ModelProto:
    """The graph, aligning the detector's right eye, left eye and mouth centre on `targets`
    ([3, 2], continuous pixel coordinates of the 512 portrait)."""
    g = Graph()
    image = "image"
    nchw = g.op("Unsqueeze", g.op("Transpose", image, perm=[2, 0, 1]), g.const([0], np.int64))
    shape = g.op("Cast", g.op("Shape", image), to=TensorProto.FLOAT)
    hf = g.op("Gather", shape, g.const(0, np.int64))
    wf = g.op("Gather", shape, g.const(1, np.int64))
    # Pass 1: the whole photo letterboxed into a square (mediapipe's keep-aspect-ratio input).
    whole = (g.op("Div", wf, g.const(2.0)), g.op("Div", hf, g.const(2.0)), g.op("Max", hf, wf),
             g.const(1.0), g.const(0.0))
    score1, boxes1, keys1 = detect(g, detector, nchw, whole, "pass1/")
    best = g.op("ArgMax", score1, axis=0, keepdims=1)
    best_score = g.op("Squeeze", g.op("Gather", score1, best), g.const([0], np.int64))
    box = pick(g, boxes1, best)  # [4]: cx, cy, w, h
    cx = g.op("Gather", box, g.const(0, np.int64))
    cy = g.op("Gather", box, g.const(1, np.int64))
    bw = g.op("Gather", box, g.const(2, np.int64))
    bh = g.op("Gather", box, g.const(3, np.int64))
    # Another face: the best score among anchors whose centre is outside the best face's box
    # grown by half (neighbouring anchors of the same face stay inside it).
    anchor_c = g.op("Slice", boxes1, g.const([0], np.int64), g.const([2], np.int64), g.const([1], np.int64))
    dx = g.op("Abs", g.op("Sub", g.op("Gather", anchor_c, g.const(0, np.int64), axis=1), cx))
    dy = g.op("Abs", g.op("Sub", g.op("Gather", anchor_c, g.const(1, np.int64), axis=1), cy))
    outside = g.op("Or", g.op("Greater", dx, g.op("Mul", bw, g.const(0.75))),
                   g.op("Greater", dy, g.op("Mul", bh, g.const(0.75))))
    other_score = g.op("ReduceMax", g.op("Where", outside, score1, g.const(0.0)), keepdims=0)

    # Pass 2: a square crop around the face, turned so that its eyes are level (the detector
    # wants upright faces: its keypoints drift on tilted ones), detected again for keypoints at
    # finer pixels.
    keys1 = pick(g, keys1, best)
    eye_line = g.op("Sub", g.op("Gather", keys1, g.const(EYE_L, np.int64), axis=0),
                    g.op("Gather", keys1, g.const(EYE_R, np.int64), axis=0))
    eye_line = g.op("Div", eye_line, g.op("Add", g.op("ReduceL2", eye_line, keepdims=0), g.const(1e-6)))
    crop = (cx, cy, g.op("Mul", g.op("Max", bw, bh), g.const(CROP)),
            g.op("Gather", eye_line, g.const(0, np.int64)), g.op("Gather", eye_line, g.const(1, np.int64)))
    score2, boxes2, keys2 = detect(g, detector, nchw, crop, "pass2/")
    best2 = g.op("ArgMax", score2, axis=0, keepdims=1)
    box2 = pick(g, boxes2, best2)
    # And mirrored: the detector's keypoints lean a little to one side of the face (a level
    # portrait comes out tilted by a degree or two); the mean of both runs does not.
    score3, _, keys3 = detect(g, detector, nchw, crop, "pass3/", mirror=True)
    mirrored = pick(g, keys3, g.op("ArgMax", score3, axis=0, keepdims=1))
    swapped = g.op("Gather", mirrored, g.const([EYE_L, EYE_R, NOSE, MOUTH, EAR_L, EAR_R], np.int64), axis=0)
    keys = g.op("Div", g.op("Add", pick(g, keys2, best2), swapped), g.const(2.0))  # [6, 2]
    key = lambda k: g.op("Gather", keys, g.const(k, np.int64), axis=0)  # noqa: E731  [2]

    # Yaw: the nose tip's offset from the eyes' midpoint along the eye line, in eye distances:
    # about 0 facing the camera, 0.9 on a profile (whose eyes also crowd together: the eye
    # distance drops from about 0.42 of the face box to under 0.2).
    er, el, nose = key(EYE_R), key(EYE_L), key(NOSE)
    axis = g.op("Sub", el, er)
    mid = g.op("Div", g.op("Add", el, er), g.const(2.0))
    eye2 = g.op("Add", g.op("ReduceSum", g.op("Mul", axis, axis), keepdims=0), g.const(1e-6))
    yaw = g.op("Div", g.op("ReduceSum", g.op("Mul", g.op("Sub", nose, mid), axis), keepdims=0), eye2)
    eye_over_box = g.op("Div", g.op("Sqrt", eye2), g.op("Add", g.op("Gather", box2, g.const(2, np.int64)),
                                                          g.const(1e-6)))
    profile = g.op("Or", g.op("Greater", g.op("Abs", yaw), g.const(MAX_YAW)),
                   g.op("Less", eye_over_box, g.const(MIN_EYES_OVER_BOX)))

    # Similarity (least squares, no reflection) from the canonical points to the photo's.
    src = g.const(targets.astype(np.float32))
    dst = g.op("Concat", *[g.op("Unsqueeze", key(k), g.const([0], np.int64)) for k in (EYE_R, EYE_L, MOUTH)], axis=0)
    ms = g.op("ReduceMean", src, g.const([0], np.int64), keepdims=1)
    md = g.op("ReduceMean", dst, g.const([0], np.int64), keepdims=1)
    s, d = g.op("Sub", src, ms), g.op("Sub", dst, md)
    sx = g.op("Gather", s, g.const(0, np.int64), axis=1)
    sy = g.op("Gather", s, g.const(1, np.int64), axis=1)
    dxp = g.op("Gather", d, g.const(0, np.int64), axis=1)
    dyp = g.op("Gather", d, g.const(1, np.int64), axis=1)
    norm = g.op("ReduceSum", g.op("Add", g.op("Mul", sx, sx), g.op("Mul", sy, sy)), keepdims=0)
    a = g.op("Div", g.op("ReduceSum", g.op("Add", g.op("Mul", sx, dxp), g.op("Mul", sy, dyp)), keepdims=0), norm)
    b = g.op("Div", g.op("ReduceSum", g.op("Sub", g.op("Mul", sx, dyp), g.op("Mul", sy, dxp)), keepdims=0), norm)
    # Output pixel centres (continuous coordinates) -> photo coordinates.
    u, v = unit_grid(g, config.SIZE)
    px = g.op("Sub", g.op("Mul", u, g.const(float(config.SIZE))), g.const(float(targets[:, 0].mean())))
    py = g.op("Sub", g.op("Mul", v, g.const(float(config.SIZE))), g.const(float(targets[:, 1].mean())))
    mdx = g.op("Squeeze", g.op("Gather", md, g.const([0], np.int64), axis=1), g.const([0, 1], np.int64))
    mdy = g.op("Squeeze", g.op("Gather", md, g.const([1], np.int64), axis=1), g.const([0, 1], np.int64))
    gx = g.op("Add", g.op("Sub", g.op("Mul", px, a), g.op("Mul", py, b)), mdx)
    gy = g.op("Add", g.op("Add", g.op("Mul", px, b), g.op("Mul", py, a)), mdy)
    aligned = sample(g, nchw, gx, gy, config.SIZE)
    reference = g.op("Transpose", g.op("Squeeze", aligned, g.const([0], np.int64)), perm=[1, 2, 0])
    g.nodes.append(helper.make_node("Identity", [reference], ["portrait"], name="portrait"))

    # Status, in order of precedence: no face, several, too small, profile.
    face_w = g.op("Gather", box2, g.const(2, np.int64))
    code = lambda cond, c, rest: g.op("Where", cond, g.const(c, np.int64), rest)  # noqa: E731
    status = code(profile, 3, g.const(0, np.int64))
    status = code(g.op("Less", face_w, g.const(MIN_FACE_PX)), 4, status)
    status = code(g.op("GreaterOrEqual", other_score, g.const(MIN_SCORE)), 2, status)
    status = code(g.op("Less", best_score, g.const(MIN_SCORE)), 1, status)
    # [1], not a scalar: Triton serves no scalar tensors from a model without batching.
    g.nodes.append(helper.make_node("Reshape", [status, g.const([1], np.int64)], ["status"], name="status"))
    box_out = g.op("Concat", g.op("Sub", g.op("Slice", box2, g.const([0], np.int64), g.const([2], np.int64)),
                                  g.op("Div", g.op("Slice", box2, g.const([2], np.int64), g.const([4], np.int64)), g.const(2.0))),
                   g.op("Slice", box2, g.const([2], np.int64), g.const([4], np.int64)), axis=0)
    g.nodes.append(helper.make_node("Identity", [box_out], ["face_box"], name="face_box"))
    g.nodes.append(helper.make_node("Identity", [keys], ["face_keypoints"], name="face_keypoints"))
    graph = helper.make_graph(
        g.nodes,
        "reference_encoder",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["height", "width", 3])],
        [
            helper.make_tensor_value_info("portrait", TensorProto.FLOAT, [config.SIZE, config.SIZE, 3]),
            helper.make_tensor_value_info("status", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("face_box", TensorProto.FLOAT, [4]),
            helper.make_tensor_value_info("face_keypoints", TensorProto.FLOAT, [6, 2]),
        ],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def detector_onnx(cache: Path) -> onnx.ModelProto:
    """mediapipe's short-range face detector, from its wheel, converted by tflite2onnx."""
    import tflite2onnx

    wheel = cache / MEDIAPIPE_WHEEL
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", MEDIAPIPE, "-d", cache],
                       check=True)
    with tempfile.TemporaryDirectory() as tmp:
        tfl = Path(tmp) / "detector.tflite"
        with zipfile.ZipFile(wheel) as z:
            tfl.write_bytes(z.read(DETECTOR))
        out = Path(tmp) / "detector.onnx"
        tflite2onnx.convert(str(tfl), str(out))
        return onnx.load(str(out))


def load(path) -> np.ndarray:
    """A photo as the graph takes it: [H, W, 3] f32 RGB in [0, 1]."""
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), np.float32) / 255


def run(model: onnx.ModelProto, image: np.ndarray) -> list:
    """The graph's outputs for one photo, by onnxruntime on CPU."""
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": image})


# Unaligned photos for the contact sheet: the bundled avatars' sources as published (public
# domain), from the wheels that carry them: wheel pin, wheel file, member.
PHOTOS = [
    ("scikit-image==0.26.0", "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
     "skimage/data/astronaut.png"),
    ("matplotlib==3.11.2", "matplotlib-3.11.2-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
     "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
]


def sheet(model_path: Path, cache: Path, out: Path) -> None:
    """Each photo as published (fitted into 384x384) beside the portrait the encoder makes of it."""
    import io

    from PIL import Image, ImageDraw

    tiles = []
    for pin, wheel, member in PHOTOS:
        if not (cache / wheel).exists():
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", pin, "-d", cache],
                           check=True)
        with zipfile.ZipFile(cache / wheel) as z:
            photo = Image.open(io.BytesIO(z.read(member))).convert("RGB")
        portrait, status, box, _ = run(onnx.load(str(model_path)), np.asarray(photo, np.float32) / 255)
        shown = photo.copy()
        ImageDraw.Draw(shown).rectangle([box[0], box[1], box[0] + box[2], box[1] + box[3]], outline=(255, 0, 0),
                                        width=3)
        shown.thumbnail((384, 384))
        tile = Image.new("RGB", (384 * 2 + 8, 384), (255, 255, 255))
        tile.paste(shown, ((384 - shown.width) // 2, (384 - shown.height) // 2))
        tile.paste(Image.fromarray((portrait * 255).round().clip(0, 255).astype(np.uint8)).resize((384, 384)),
                   (392, 0))
        print(f"{member}: {photo.size}, status {int(status[0])}, face box {np.round(box).tolist()}")
        tiles.append(tile)
    sheet = Image.new("RGB", (tiles[0].width, sum(t.height + 8 for t in tiles) - 8), (255, 255, 255))
    for i, t in enumerate(tiles):
        sheet.paste(t, (0, i * (t.height + 8)))
    sheet.save(out)
    print(f"{out}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(config.HERE / "reference_encoder.onnx"))
    p.add_argument("--sheet", metavar="PNG", help="only draw the contact sheet of the graph at --out")
    args = p.parse_args()
    cache = config.CACHE / "wheels"
    cache.mkdir(parents=True, exist_ok=True)
    if args.sheet:
        sheet(Path(args.out), cache, Path(args.sheet))
        return
    detector = detector_onnx(cache)
    # Where the detector finds the bundled avatars' eyes and mouth, which sit on CANON.
    found = np.mean([run(build(detector, CANON), load(config.HERE / a))[3][[EYE_R, EYE_L, MOUTH]]
                     for a in AVATARS], axis=0)
    print("detector keypoints on the aligned avatars:", found.round(1).tolist(), "canonical:", CANON.tolist())
    model = build(detector, found)
    onnx.save(model, args.out)
    print(f"{args.out}: {Path(args.out).stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
