package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lowbit/lowbit/recipes"
	"github.com/lowbit/lowbit/ste"
)

func init() {
	register("recipes", "list the paper recipes; 'recipes show NAME' prints one as JSON", cmdRecipes)
}

func cmdRecipes(args []string, stdout io.Writer) error {
	fs := newFlags("recipes")
	args, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(args) >= 1 && args[0] == "show" {
		if len(args) != 2 {
			return usagef("usage: lowbit recipes show NAME")
		}
		r, err := recipes.Lookup(args[1])
		if err != nil {
			return err
		}
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	if len(args) > 0 {
		return usagef("unknown arguments %q (usage: lowbit recipes [show NAME])", args)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tWEIGHTS\tINPUTS\tFIRST/LAST\tABOUT")
	for _, n := range recipes.Recipes() {
		r, _ := recipes.Lookup(n)
		pol := string(r.Policy)
		if pol == "" {
			pol = "fp"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, ste.SpecOf(r.Weights), ste.SpecOf(r.Inputs), pol, r.About)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nTraining setups (train and bench imagenet -setup NAME; they replace the recipe's optimizer, schedule, batch and epochs):")
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETUP\tDATASETS\tTRAINING")
	for _, n := range recipes.Setups() {
		s, _ := recipes.LookupSetup(n)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, strings.Join(s.Datasets, ","), s.String())
	}
	return tw.Flush()
}
