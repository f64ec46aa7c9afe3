// Written by `python -m animetool_runtime _blocks_js > android_demo/web/lib/blocks.js` from
// runtime/animetool_runtime/blocks.py, where each default lives: edit it there, not here.
export const DEFAULTS = {
  preprocess: {"kind": "image", "size": null, "resize": "stretch", "pad_value": 0.0, "color": "RGB", "range": [0.0, 1.0], "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "channels": null, "fill": 0.8, "conditioning": null, "builder": null},
  postprocess: {"decoder": null, "stride": null, "center_threshold": 0.3, "max_people": 6, "keypoints": [], "skeleton": [], "range": [0.0, 1.0], "color": "RGB", "channels": []},
  conditioning: {"layout": 1, "groups": []}
};
