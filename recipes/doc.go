// Package recipes trains, evaluates and checkpoints quantized networks, and
// holds the paper recipes that configure them.
//
// A Recipe (DoReFa-Net, XNOR-Net, BNN, LSQ, PACT, TTQ, Larq's, …; Recipes
// lists them, Lookup finds one, RegisterRecipe adds one) names the weight and
// input quantizers, the first/last-layer policy and the training settings of
// a paper; Recipe.Config turns it into a Config for a model and dataset.
//
// Train runs a Config: it opens the data (OpenData), builds the model
// (models.New, or restores Config.Resume), and trains epoch by epoch,
// evaluating on the test split and writing a checkpoint after every epoch
// (Checkpoint, LoadCheckpoint, Checkpoint.Restore). A resumed run takes every
// setting from its checkpoint and is bit-identical to an uninterrupted one.
// Zero Config fields take Defaults; the lowbit CLI layers a recipe, a run
// config file and its flags over them, in that order.
//
// Evaluate measures a model on a dataset; InitFrom starts a run from a
// full-precision checkpoint or a PyTorch state_dict. Training is data-parallel
// when Config.Comm has more than one process (see package dist).
//
// A model built in a user's program trains and checkpoints here once its
// builder is registered with models.Register under a name; see the
// package's ExampleTrain_registeredModel.
package recipes
