"""From raw video to tracklets: streaming decode, person detection, multi-object tracking, tracklet cutting.

    video.py      VideoSource: frames of a video streamed one at a time (bounded memory), every N-th frame
    detectors.py  HOG (OpenCV's people detector), MOTChallenge det.txt files, ONNX person detectors
    tracker.py    ByteTrack-style tracker (constant-velocity Kalman + IoU on scipy's Hungarian solver)
    cut.py        tracks -> tracklets (min length, max gap, aspect padding, tiny boxes dropped) -> crops on disk
    follow.py     one person followed forwards and backwards from a seed box (search probes)
    metrics.py    MOT metrics (MOTA, IDF1, ID switches) as py-motmetrics / TrackEval define them
    draw.py       contact sheet and annotated preview
"""
