"""The Picture base class: what png() shows is what matplotlib draws for the same figure."""
import numpy as np

from cnnlib.explore.picture import Picture, animate
from explorer_helpers import decoded, plainly_drawn


class TwoImages(Picture):
    """Two animated images side by side; the second can be hidden."""

    def __init__(self, live=True):
        fig = self._start((4, 2), live=live)
        axes = [fig.add_subplot(1, 2, k + 1) for k in range(2)]
        for ax in axes:
            ax.set_axis_off()          # no frame: blitting draws the images over it, a plain draw under it
        self.images = [ax.imshow(np.full((4, 4), 0.9), cmap="gray", vmin=0, vmax=1) for ax in axes]
        animate(self, *self.images)

    def update(self, value, show_second):
        for im in self.images:
            im.set_data(np.full((4, 4), value))
        self.images[1].set_visible(show_second)


def test_a_hidden_animated_image_leaves_no_trace():
    """matplotlib before 3.11 draws animated images into a normal draw: they must not end up in
    the kept background, or a hidden one would still show (seen on Python 3.10, matplotlib 3.10)."""
    picture = TwoImages()
    picture.png()                                          # the first frame keeps a background
    picture.update(0.1, show_second=False)
    shown = decoded(picture.png())
    assert picture.full_draws == 1                         # only animated artists changed
    np.testing.assert_array_equal(shown, plainly_drawn(picture.fig))
