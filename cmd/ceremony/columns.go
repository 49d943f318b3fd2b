package main

import (
	"bufio"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// writeColumns writes rows as text/tabwriter does with padding 2 and
// spaces (every row has every column; the last is not padded), in one
// pass over the cells, buffered: text/tabwriter makes one write(2) per
// cell, which cost a third of list's time and a third of health's on a
// 1M-event store (README, "Opening a large store"). list, cards and
// health print through it.
func writeColumns(out io.Writer, rows [][]string) error {
	var width []int
	for _, r := range rows {
		for j, cell := range r[:len(r)-1] {
			if j == len(width) {
				width = append(width, 0)
			}
			width[j] = max(width[j], utf8.RuneCountInString(cell))
		}
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	pad := strings.Repeat(" ", slices.Max(append(width, 0))+2)
	for _, r := range rows {
		for j, cell := range r {
			bw.WriteString(cell)
			if j < len(r)-1 {
				bw.WriteString(pad[:width[j]+2-utf8.RuneCountInString(cell)])
			}
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
