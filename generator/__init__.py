"""SSSD-ECG-style diffusion generator of 12-lead ECGs: pure PyTorch and numpy."""
